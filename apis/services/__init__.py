"""Every write to the catalog goes through here: APIs, versions and their lifecycle, plans, audit.

Each function takes the acting ``Membership`` and checks its role first. The objects passed
in must already belong to the actor's tenant (views load them with ``for_tenant``); the
services re-check that, so a mistake in a view cannot cross tenants.
"""

from apis.services.apis import api_create, api_delete, api_delete_refusal, api_update, check_api_slug_free  # noqa: F401
from apis.services.audit import audit_record  # noqa: F401
from apis.services.fields import (  # noqa: F401  # noqa: F401
    BASE_PATH_SEGMENT_RE,
    LABEL_RE,
    MAX_TAGS,
    MAX_TIMEOUT_MS,
    MAX_UPSTREAMS,
    MAX_WEIGHT,
    RESERVED_BASE_PATHS,
    TAG_RE,
    check_base_path_free,
    validate_base_path,
    validate_label,
    validate_tags,
    validate_upstreams,
)
from apis.services.plans import (  # noqa: F401
    check_plan_name_free,
    plan_archive,
    plan_create,
    plan_delete,
    plan_delete_refusal,
    plan_restore,
    plan_update,
)
from apis.services.versions import (  # noqa: F401
    check_version_label_free,
    version_create,
    version_delete,
    version_delete_refusal,
    version_deprecate,
    version_publish,
    version_retire,
    version_store_generated_spec,
    version_update,
    version_upload_spec,
)
