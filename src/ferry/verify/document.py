"""Document review: the person uploads an identity document; agents approve or reject it.

The upload is checked here (size, and type by its first bytes, not by what the client claims);
the service seals it on disk, and deletes it once decided. High-risk requests need two distinct
agents to approve; one rejection decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from ferry.domain.errors import InvalidInput
from ferry.verify.base import Attempt, Level, Outcome

SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
}
SEP = "\x1f"


class DocumentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    level: Level = Level.HIGH


class DocumentReview:
    name: ClassVar[str] = "document"
    max_level: ClassVar[Level] = Level.HIGH

    def __init__(self, config: DocumentConfig) -> None:
        self.config = config

    @classmethod
    def build(cls, config: Mapping[str, Any]) -> Self:
        return cls(DocumentConfig.model_validate(config))

    def sniff(self, data: bytes) -> str:
        """The document's type from its first bytes, or ``InvalidInput`` saying what is accepted."""
        if not data:
            raise InvalidInput("the file is empty; upload a scan or photo of your document")
        if len(data) > self.config.max_bytes:
            mb = self.config.max_bytes // (1024 * 1024)
            raise InvalidInput(f"the file is larger than {mb} MB; upload a smaller scan")
        for magic, kind in SIGNATURES.items():
            if data.startswith(magic):
                return kind
        raise InvalidInput("upload a PDF, JPEG or PNG file", code="unsupported_document")

    def check(self, attempt: Attempt) -> Outcome:
        """Passed once ``needed`` distinct agents approved and nobody rejected."""
        approved = {a for a in attempt.answer.get("approved_by", "").split(SEP) if a}
        rejected = {a for a in attempt.answer.get("rejected_by", "").split(SEP) if a}
        needed = int(attempt.expected.get("needed", "1"))
        ok = not rejected and len(approved) >= needed
        details = {"approvals": len(approved), "needed": needed, "rejections": len(rejected)}
        return Outcome(ok, self.config.level if ok else Level.NONE, details=details)
