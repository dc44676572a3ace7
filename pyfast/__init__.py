"""pyfast: the standard library's socketserver, made fast."""
