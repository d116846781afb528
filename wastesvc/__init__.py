"""wastesvc: smart waste collection for French agglomerations (readings → selection → routes → sheets)."""

__all__: list[str] = []
