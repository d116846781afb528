"""Domain logic between the servicers and storage: validation, conversions, selection and planning."""

__all__: list[str] = []
