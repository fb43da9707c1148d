"""The Gradio demo (``clinic demo``), shipped inside the package as :mod:`toolkit.demo_app` (the link
``toolkit/demo_app`` → ``demo/``): ``app.py`` (the page), ``views.py`` (how things are shown) and
``forms.py`` (the 处方审核 form and its examples). What the demo does is library verbs in
:mod:`toolkit.demo_api`; import these modules as ``toolkit.demo_app.views`` etc., from a checkout or a wheel."""
