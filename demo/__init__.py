"""The Gradio demo (``clinic demo``); UI only, the logic is in :mod:`toolkit.demo_api`."""
