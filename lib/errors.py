"""All errors a user can cause. Lib raises them; the page edge shows `str(error)` with st.error."""


class BoundaryError(Exception):
    """A problem with the user's input, described in plain language with the way out."""


class FileReadError(BoundaryError):
    """The file cannot be read at all (empty, corrupt, password-protected, wrong format)."""


class MappingError(BoundaryError):
    """The file was read but a required column is missing or the kind is not recognised."""


class SqlError(BoundaryError):
    """A user's SQL was rejected or failed."""
