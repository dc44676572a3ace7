"""pyfast.http: the standard library's http.server on pyfast's servers."""
