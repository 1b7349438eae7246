
# --- Appended to the generated module by scripts/generate-bindings.sh and tests/bindings ---
# (mobile-bindings/python/records_repr.py). uniffi 0.32 declares each record as a @dataclass
# with its own __init__ and no field annotations, so the dataclass __repr__ prints no field
# ("Profile()"), while __str__ prints them all. Here repr() of every record is its __str__, so
# records print their fields as Kotlin's data classes do: Profile(case_reference=HUL-1, ...).
#
# Like Kotlin's toString(), this prints EVERY field, free text included (a visit note's
# wishes and feelings, a safety plan's notes): a record's repr is for a developer's console,
# never for a log that leaves the device. The errors the library raises never hold case
# content; records do.
def _casebook_records_print_their_fields(namespace):
    import dataclasses

    def patch(cls):
        if dataclasses.is_dataclass(cls) and "__str__" in cls.__dict__:
            cls.__repr__ = cls.__str__
        for inner in list(vars(cls).values()):
            if isinstance(inner, type) and inner.__qualname__.startswith(cls.__qualname__ + "."):
                patch(inner)

    for value in list(namespace.values()):
        if isinstance(value, type) and value.__module__ == __name__:
            patch(value)


_casebook_records_print_their_fields(globals())
del _casebook_records_print_their_fields
