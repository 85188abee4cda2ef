"""Options of the Kubernetes target (pure types): what a cluster decides that a stack does not.

The overrides (models/overrides.py) carry the same fields with the same types, so the CLI's
flags for them come from the one flag table; `KubernetesOptions.of(overrides)` takes them out.
"""

from typing import Annotated, Any, Literal

from pydantic import Field

from ling_compose.models.base import StrictModel

# Pods of one stack: each its own copy of the layout (a Deployment's replicas, or LWS groups).
Replicas = Annotated[int, Field(ge=1, le=64)]
# A Kubernetes object name (RFC 1123 label: Secrets, storage classes are subdomains, but a label
# is valid as both, and short enough for any object).
ObjectName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
# The PersistentVolumeClaim access modes (core/v1 PersistentVolumeAccessMode).
AccessMode = Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]
# Service types ling_compose renders (ExternalName routes nowhere near a pod).
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]

DEFAULT_HF_TOKEN_SECRET = "hf-token"
DEFAULT_API_KEY_SECRET = "ling-api-key"
# The keys inside those Secrets (`kubectl create secret generic NAME --from-literal=KEY=...`).
HF_TOKEN_KEY = "HF_TOKEN"
API_KEY_KEY = "api-key"


class KubernetesOptions(StrictModel):
    """How the manifests of one stack are deployed."""

    replicas: Replicas = Field(default=1, description="Serving pods (LWS: groups of pods)")
    storage_class: ObjectName | None = Field(
        default=None, description="StorageClass of the weights cache; None: the cluster's default"
    )
    access_mode: AccessMode | None = Field(
        default=None,
        description="Access mode of the weights cache; None: ReadWriteOnce (one pod uses it)",
    )
    service_type: ServiceType = Field(default="ClusterIP", description="The Service's type")
    hf_token_secret: ObjectName = Field(
        default=DEFAULT_HF_TOKEN_SECRET,
        description=f"Secret with key {HF_TOKEN_KEY} (optional: public downloads work without)",
    )
    api_key_secret: ObjectName = Field(
        default=DEFAULT_API_KEY_SECRET,
        description=f"Secret with key {API_KEY_KEY}, read when the stack has an API key",
    )

    @classmethod
    def of(cls, overrides: Any) -> "KubernetesOptions":
        """The options an Overrides (or any object with these attributes) gives; None: default."""
        given = {
            name: getattr(overrides, name)
            for name in cls.model_fields
            if getattr(overrides, name, None) is not None
        }
        return cls.model_validate(given)
