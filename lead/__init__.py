"""The lead's own vocabulary, below both handlers and mappings: Engage lead fields, field maps, phones.

handlers/ (verify and parse) and mappings/ (record → lead) both build on this package, so neither
has to import the other for it; mappings/ may still read a handler's parsed-record types.
"""
