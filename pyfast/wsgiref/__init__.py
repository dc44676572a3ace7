"""pyfast.wsgiref: the standard library's wsgiref.simple_server on pyfast."""
