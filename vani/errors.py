"""Every exception vani raises derives from :class:`VaniError`.

The tree::

    VaniError
    ├── ConfigurationError (also ValueError)    a bad argument or setting, found at construction
    ├── AudioFormatError (also ValueError)      PCM of the wrong length, rate or channel count
    ├── ProtocolError                           a peer sent a message that breaks its protocol
    │   └── SerializationError (also ValueError) a wire message that cannot be parsed or encoded
    ├── PipelineError                           processors or tasks used the wrong way
    │   └── QueueClosedError                    a frame was put into a closed processor
    ├── ServiceError                            a remote or local engine failed; ``retryable``
    │   ├── AuthenticationError                 the key was refused (never retryable)
    │   ├── RateLimitError                      quota or rate limit (retryable unless quota)
    │   └── ServiceConnectionError              the connection dropped or could not be made
    ├── FunctionCallError                       an LLM tool call could not be completed
    │   ├── UnknownFunctionError                the LLM asked for a function nobody registered
    │   ├── FunctionArgumentsError              the arguments were not a JSON object
    │   └── FunctionCallTimeoutError            the handler ran past its ``timeout_secs``
    ├── FlowError                               a Dhara flow could not run
    │   └── FlowValidationError                 a flow definition has problems (all listed)
    └── ModelLoadError                          a shipped model file is missing or unreadable

Messages are lowercase and name the bad value and the expected one.
"""

from __future__ import annotations

__all__ = [
    "AudioFormatError",
    "AuthenticationError",
    "ConfigurationError",
    "FlowError",
    "FlowValidationError",
    "FunctionArgumentsError",
    "FunctionCallError",
    "FunctionCallTimeoutError",
    "ModelLoadError",
    "PipelineError",
    "ProtocolError",
    "QueueClosedError",
    "RateLimitError",
    "SerializationError",
    "ServiceConnectionError",
    "ServiceError",
    "UnknownFunctionError",
    "VaniError",
]


class VaniError(Exception):
    """Root of every vani exception."""


class ConfigurationError(VaniError, ValueError):
    """A parameter or setting is invalid; raised where the object is built."""


class AudioFormatError(VaniError, ValueError):
    """Audio whose byte length, sample rate or channel count is not what was expected."""


class ProtocolError(VaniError):
    """A peer (client, server or service) sent a message that breaks its protocol."""


class PipelineError(VaniError):
    """Processors, pipelines or tasks were used in a way they do not support."""


class QueueClosedError(PipelineError):
    """A frame was given to a processor or task that has already finished."""


class ServiceError(VaniError):
    """A service failed. ``retryable`` tells whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class AuthenticationError(ServiceError):
    """The service refused the credentials. Never retryable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class RateLimitError(ServiceError):
    """Rate limited (retryable) or out of quota (not retryable)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)


class ServiceConnectionError(ServiceError):
    """The connection to a service dropped or could not be opened."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)


class FunctionCallError(VaniError):
    """A tool call requested by the LLM could not be completed."""


class UnknownFunctionError(FunctionCallError):
    """The LLM called a function that no handler was registered for."""


class FunctionArgumentsError(FunctionCallError):
    """The LLM's arguments for a call were not a valid JSON object."""


class FunctionCallTimeoutError(FunctionCallError):
    """A function handler ran longer than its ``timeout_secs``."""


class FlowError(VaniError):
    """A Dhara flow could not be loaded or run."""


class FlowValidationError(FlowError, ValueError):
    """A flow definition has problems; ``problems`` lists every one with its location."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the flow has {len(self.problems)} problem(s):\n{lines}")


class ModelLoadError(VaniError):
    """A model file could not be found or loaded."""


class SerializationError(ProtocolError, ValueError):
    """A wire message could not be parsed or a frame could not be encoded.

    Raised by serializers (sans-I/O); the transport logs it and drops that one message.
    """
