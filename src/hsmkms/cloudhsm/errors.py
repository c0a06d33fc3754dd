"""CloudHSM v2 errors: one class per error shape of the ``cloudhsmv2`` model, named as its code.

All carry only ``Message`` (capital M, spec cloudhsm.md section 0). Every one is a 400 except
``CloudHsmInternalFailureException``, the model's only server fault (500, retried by SDKs).
``tests/unit/test_cloudhsm_errors.py`` checks this list against the model.
"""

from __future__ import annotations

from hsmkms.errors import ClientError, ServerFault


class CloudHsmAccessDeniedException(ClientError):
    pass


class CloudHsmInternalFailureException(ServerFault):
    pass


class CloudHsmInvalidRequestException(ClientError):
    pass


class CloudHsmResourceLimitExceededException(ClientError):
    pass


class CloudHsmResourceNotFoundException(ClientError):
    pass


class CloudHsmServiceException(ClientError):
    pass


class CloudHsmTagException(ClientError):
    pass


__all__ = [
    "CloudHsmAccessDeniedException",
    "CloudHsmInternalFailureException",
    "CloudHsmInvalidRequestException",
    "CloudHsmResourceLimitExceededException",
    "CloudHsmResourceNotFoundException",
    "CloudHsmServiceException",
    "CloudHsmTagException",
]


#: Every message hsmkms writes for these errors, in one table so they can be corrected when real
#: AWS texts are recorded (spec cloudhsm.md 8.1). Only "not_fully_activated" is a known AWS text
#: (Terraform provider issue #7437).
MESSAGES: dict[str, str] = {
    "cluster_not_found": "Cluster {id} not found.",
    "hsm_not_found": "HSM not found in cluster {cluster}: {what}.",
    "backup_not_found": "Backup {id} not found.",
    "shared_backup_needs_arn": "Backup {id} not found in this account. It belongs to account "
                               "{owner}: specify a backup of another account by its full ARN "
                               "({arn}).",
    "resource_not_found": "Resource {id} not found.",
    "not_fully_activated": "Cluster '{id}' already contains an HSM but has not yet been fully "
                           "activated",
    "cluster_not_ready": "HSMs cannot be created in cluster {id} while it is in state {state}.",
    "az_not_mapped": "Availability zone {az} is not in the subnet mapping of cluster {id} "
                     "(valid availability zones: {valid}).",
    "cluster_has_hsms": "Cluster {id} contains HSMs. Delete all HSMs in the cluster before "
                        "deleting it.",
    "cluster_quota": "You have reached the limit of {n} clusters per Region for this account.",
    "hsm_quota": "You have reached the limit of {n} HSMs per Region for this account.",
    "hsm_per_cluster_quota": "Cluster {id} already contains the maximum of {n} HSMs.",
    "retention_range": "Backup retention period '{value}' is not valid. Specify a number of days "
                       "between 7 and 379.",
    "hsm_type": "HSM type '{value}' is not supported. Valid HSM types: hsm1.medium, "
                "hsm2m.medium.",
    "non_fips_type": "NON_FIPS mode requires HSM type hsm2m.medium.",
    "mode_mismatch": "A {backup} backup can only be restored into a {backup} cluster.",
    "subnet_not_found": "Subnet {id} does not exist.",
    "subnet_duplicate_az": "Subnets {a} and {b} are both in availability zone {az}; specify at "
                           "most one subnet per availability zone.",
    "subnet_vpcs": "All subnets must be in the same VPC; {a} is in {va} and {b} is in {vb}.",
    "source_backup_state": "Backup {id} is in state {state}; only READY backups can be used to "
                           "create a cluster.",
    "copy_state": "Backup {id} is in state {state}; only READY backups can be copied.",
    "copy_same_region": "The destination Region {region} must differ from the backup's Region.",
    "unknown_filter": "Invalid filter '{key}'. Valid filters: {valid}.",
    "filter_value": "Invalid value '{value}' for filter '{key}'.",
    "next_token": "The NextToken value is not valid.",
    "delete_hsm_selector": "Specify the HSM to delete with exactly one of HsmId, EniId or "
                           "EniIp.",
    "initialize_no_csr": "Cluster {id} has no certificate signing request yet: wait until its "
                         "first HSM is ACTIVE.",
    "bad_certificate": "Invalid certificate: {problem}",
    "same_hsm_type": "Cluster {id} already uses HSM type {value}.",
    "modify_state": "Cluster {id} cannot be modified in state {state}.",
    "retention_state": "The backup retention policy of cluster {id} can be changed only while "
                       "the cluster is ACTIVE; it is {state}.",
    "activation_refused": "Cluster {id} cannot be activated in state {state}: it must be "
                          "INITIALIZED.",
    "no_hsm_for_backup": "Cluster {id} has no ACTIVE HSM to back up.",
    "tag_limit": "The resource {id} would have {n} tags; a resource can have at most 50 tags.",
    "policy_resource": "Resource policies can be attached only to backups, not to {id}.",
    "backup_change_state": "Backup {id} is in state {state}; {operation} requires a backup in "
                           "state {allowed}.",
    "resource_arn_missing": "ResourceArn is required.",
    "policy_json": "The policy is not a valid JSON policy document.",
    "no_policy": "Backup {id} has no resource policy.",
    "ip_unavailable": "The IP address {ip} cannot be used in subnet {subnet}: {reason}",
    "no_free_address": "Subnet {subnet} of availability zone {az} has no free IP address for "
                       "a new HSM.",
    "hsm_subnet_missing": "Subnet {subnet}, which cluster {id} uses in availability zone {az}, "
                          "no longer exists: no HSM can be created in {az}.",
    "hsm_group_missing": "Security group {group} of cluster {id} no longer exists: no HSM can "
                         "be created in the cluster.",
    "network": "The cluster network could not be set up: {reason}",
}


def message(name: str, **values: object) -> str:
    return MESSAGES[name].format(**values)
