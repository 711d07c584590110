"""The admin web UI: server-rendered pages over the same services as the API.

``app.install`` mounts it under ``/ui/`` in the one ASGI application. Views call
``service/`` functions with the signed-in person's :class:`~promptstage.service.keys.Principal`
(``SessionUser.principal(project)``); no policy lives in a view. Templates are Jinja2 with
autoescaping on everywhere; htmx (vendored in ``static/``) adds live refresh and partial
updates, and every state-changing action is a plain form that works without JavaScript.
"""
