"""Submarine's ``code`` spec: the code an experiment runs, fetched before its replicas start.

``{"syncMode": "git", "git": {"url": ..., "branch": "main"}}`` clones the branch: locally
into a folder of the experiment's own, where its replicas run; on Kubernetes into a volume
mounted at ``/code`` in every replica (``CODE_PATH``). Credentials come only from a
Kubernetes Secret named in ``git.secret`` (keys ``username`` and ``password``); a spec that
carries them is refused, so no answer can ever echo them.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from .base import Request

#: Submarine's default branch (``GitCodeSpec.DEFAULT_BRANCH``).
DEFAULT_BRANCH = "main"
GIT_SCHEMES = ("https", "http", "ssh", "git", "file")
MAX_URL = 2048
#: What ``git check-ref-format --branch`` accepts, narrowed to the characters branches use.
BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+-]{1,255}(?<![./])$")
#: A Secret's name: a DNS-1123 subdomain.
SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_CREDENTIALS = "credentials are not taken in a spec (it is stored and echoed in every answer): put them in a " \
    "Kubernetes Secret with keys 'username' and 'password' and name it in code.git.secret"


class GitCode(Request):
    """Where the code is: a repository and its branch."""

    url: str = Field(description=f"The repository: a URL ({', '.join(GIT_SCHEMES)}), without credentials.")
    branch: str = Field(DEFAULT_BRANCH, description="The branch (or tag) to clone.")
    secret: str | None = Field(
        None, description="Kubernetes: a Secret in the experiment's namespace with keys `username` and `password` "
        "(a token) for an HTTPS repository. Locally the clone uses your own git credentials.")
    trust_certs: bool | None = Field(None, description="Accept a self-signed certificate (Submarine's `trustCerts`).")
    username: str | None = Field(None, description="Refused: use `secret`.")
    password: str | None = Field(None, description="Refused: use `secret`.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if len(value) > MAX_URL:
            raise ValueError(f"longer than {MAX_URL} characters")
        # the value is never echoed: a refused one may hold a token
        parts = urlsplit(value)
        if "://" in value and parts.scheme != "ssh" and ("@" in parts.netloc or parts.query):
            raise ValueError(f"holds credentials (or a query, which may); {_CREDENTIALS}")
        if parts.scheme not in GIT_SCHEMES or not (parts.netloc or parts.scheme == "file"):
            raise ValueError(f"is not a repository URL ({', '.join(s + '://' for s in GIT_SCHEMES)}; "
                             "for git@host:path write ssh://git@host/path)")
        if (parts.hostname or "").startswith("-") or (parts.username or "").startswith("-"):
            raise ValueError("names a host or user starting with '-', which git would read as an option")
        if any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("contains a space or a control character")
        return value

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not BRANCH.match(value):
            raise ValueError(f"'{value}' is not a branch name (letters, digits, '.', '_', '/', '+', '-'; "
                             "not starting with '-', no '..')")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 253 or not SECRET_NAME.match(value)):
            raise ValueError(f"'{value}' is not a Secret name (a DNS-1123 subdomain)")
        return value

    @field_validator("username", "password")
    @classmethod
    def _no_credentials(cls, value: str | None) -> None:
        if value is not None:
            raise ValueError(_CREDENTIALS)
        return None


class CodeSpec(Request):
    """How the experiment's code reaches its replicas (Submarine's ``CodeSpec``)."""

    sync_mode: str = Field(description="`git`: clone `git.url` at `git.branch` before the replicas start.")
    git: GitCode | None = None

    @field_validator("sync_mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value.lower() != "git":
            raise ValueError(f"'{value}' is not supported here: only 'git' (Submarine's hdfs, nfs and s3 are not)")
        return value

    @model_validator(mode="after")
    def _git(self) -> CodeSpec:
        if self.git is None:
            raise ValueError("git: is required with syncMode git")
        return self
