"""pyfast.xmlrpc: the standard library's xmlrpc.server on pyfast's servers."""
