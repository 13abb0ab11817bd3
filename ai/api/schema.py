"""How drf-spectacular describes the ai API's plain async views."""


def documented(view, schema_view_class):
    """Let drf-spectacular describe a plain async view through a thin APIView."""
    view.cls = schema_view_class
    view.initkwargs = {}
    return view
