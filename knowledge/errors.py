"""Domain errors of the knowledge base."""


class KnowledgeError(Exception):
    """Base class of every error the knowledge base raises on purpose."""


class UnsupportedSourceError(KnowledgeError):
    """A file or URL whose type the loaders do not read."""


class DocumentLoadError(KnowledgeError):
    """A source that could not be read: unreadable, empty, broken or unreachable."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class DocumentNotFoundError(KnowledgeError):
    """A document id that is not in the knowledge base."""
