"""The guide's repairs as commands, with the ids filled in.

Each function returns the lines a user types, in order: AWS CLI commands as the guide gives
them (``aws kms ...``, ``aws cloudhsmv2 ...``, ``aws ec2 ...``) and CloudHSM CLI sessions as
``cloudhsm-cli interactive`` followed by ``aws-cloudhsm > ...`` lines. What the doctor cannot
know (a password, a cluster that does not exist yet) stays a ``<placeholder>``; comments (``#``)
say what to do between commands.
"""

from __future__ import annotations

from collections.abc import Sequence

PROMPT = "aws-cloudhsm > "
SG_RULE = "IpProtocol=tcp,FromPort=2223,ToPort=2225,UserIdGroupPairs=[{{GroupId={sg}}}]"


def describe(store_id: str) -> str:
    return f"aws kms describe-custom-key-stores --custom-key-store-id {store_id}"


def disconnect(store_id: str) -> str:
    return f"aws kms disconnect-custom-key-store --custom-key-store-id {store_id}"


def connect(store_id: str) -> tuple[str, ...]:
    return (f"aws kms connect-custom-key-store --custom-key-store-id {store_id}",
            describe(store_id))


def reconnect(store_id: str, *, wait: bool = False) -> tuple[str, ...]:
    pause = ("# wait a few minutes",) if wait else ()
    return (disconnect(store_id), *pause, *connect(store_id))


def cli_session(cluster_id: str, *commands: str) -> tuple[str, ...]:
    return (f"cloudhsm-cli interactive --cluster-id {cluster_id}",
            *(PROMPT + c for c in commands))


def update_password(store_id: str) -> str:
    return (f"aws kms update-custom-key-store --custom-key-store-id {store_id} "
            "--key-store-password <kmsuser-password>")


def kmsuser_credentials(store_id: str, cluster_id: str, *, connected: bool) -> tuple[str, ...]:
    """"How to fix invalid kmsuser credentials": disconnect, set a known kmsuser password as
    admin (``user change-password`` also clears a lockout), tell KMS, connect."""
    first = (disconnect(store_id),) if connected else ()
    return (*first,
            *cli_session(cluster_id, "login --username admin --role admin",
                         "user change-password --username kmsuser --role crypto-user",
                         "logout", "quit"),
            update_password(store_id), *connect(store_id))


def log_out_kmsuser(store_id: str) -> tuple[str, ...]:
    """"How to log out and reconnect"."""
    return ("# in the cloudhsm-cli session logged in as kmsuser:",
            PROMPT + "logout",
            "# if you changed the kmsuser password to log in, tell KMS the current one:",
            update_password(store_id), *reconnect(store_id))


def create_kmsuser(store_id: str, cluster_id: str, *, connected: bool) -> tuple[str, ...]:
    first = (disconnect(store_id),) if connected else ()
    return (*first,
            *cli_session(cluster_id, "login --username admin --role admin",
                         "user create --username kmsuser --role crypto-user", "logout", "quit"),
            update_password(store_id), *connect(store_id))


def add_hsms(cluster_id: str, zones: Sequence[str]) -> tuple[str, ...]:
    """At least one HSM; "it's best to create them in different Availability Zones"."""
    return tuple(f"aws cloudhsmv2 create-hsm --cluster-id {cluster_id} "
                 f"--availability-zone {zone}" for zone in zones) or (
        (f"aws cloudhsmv2 create-hsm --cluster-id {cluster_id} "
        "--availability-zone <availability-zone>"),)


def restore_cluster(store_id: str, cluster_id: str, backup_id: str | None, hsm_type: str,
                    subnet_ids: Sequence[str], zones: Sequence[str]) -> tuple[str, ...]:
    """A cluster from the most recent backup of the original, then point the store at it
    ("To avoid resetting the kmsuser password, use the most recent backup")."""
    subnets = " ".join(subnet_ids) or "<subnet-id> <subnet-id>"
    new = "<new-cluster-id>"
    return (f"aws cloudhsmv2 describe-backups --filters clusterIds={cluster_id}",
            (f"aws cloudhsmv2 create-cluster --hsm-type {hsm_type or 'hsm1.medium'} "
            f"--subnet-ids {subnets} --source-backup-id {backup_id or '<backup-id>'}"),
            *add_hsms(new, zones[:2] or ("<availability-zone>", "<availability-zone>")),
            disconnect(store_id),
            (f"aws kms update-custom-key-store --custom-key-store-id {store_id} "
            f"--cloud-hsm-cluster-id {new}"),
            *connect(store_id))


def free_addresses(store_id: str, subnet_ids: Sequence[str]) -> tuple[str, ...]:
    """Move or delete what uses the subnet's addresses (unused instances, ENIs)."""
    lines: list[str] = []
    for subnet in subnet_ids:
        lines += [f"aws ec2 describe-network-interfaces --filters Name=subnet-id,Values={subnet}",
                  "aws ec2 delete-network-interface --network-interface-id <unused-eni-id>"]
    return (*lines, ("# or restore a backup into subnets with more free addresses "
            "(see the cluster fix)"), *reconnect(store_id))


def security_group_rules(group_id: str, *, inbound: bool, outbound: bool) -> tuple[str, ...]:
    rule = SG_RULE.format(sg=group_id)
    lines = []
    if not inbound:
        lines.append(f"aws ec2 authorize-security-group-ingress --group-id {group_id} "
                     f"--ip-permissions {rule}")
    if not outbound:
        lines.append(f"aws ec2 authorize-security-group-egress --group-id {group_id} "
                     f"--ip-permissions {rule}")
    return tuple(lines)


def delete_orphans(store_id: str, cluster_id: str, backing_ids: Sequence[str], *,
                   connected: bool) -> tuple[str, ...]:
    """"How to delete orphaned key material": disconnect, log in as kmsuser, ``key delete``
    by id (``0x`` + backingKeyId), log out, reconnect."""
    first = (disconnect(store_id),) if connected else ()
    deletes = [f'key delete --filter attr.id="0x{b}"' for b in backing_ids]
    return (*first,
            *cli_session(cluster_id, "login --username admin --role admin",
                         "user change-password --username kmsuser --role crypto-user",
                         "logout", "login --username kmsuser --role crypto-user", *deletes,
                         "logout", "quit"),
            update_password(store_id), *connect(store_id))


def recover_key_material(store_id: str, cluster_id: str, backing_id: str | None,
                         backup_id: str | None, hsm_type: str, subnet_ids: Sequence[str],
                         zones: Sequence[str]) -> tuple[str, ...]:
    """"How to recover deleted key material": a cluster from a backup taken while the key
    existed; check the key is in it; point the store at it."""
    check = (*cli_session("<new-cluster-id>", "login --username admin --role admin",
                          f'key list --filter attr.id="0x{backing_id or "<backing-key-id>"}"',
                          "logout", "quit"),)
    restore = restore_cluster(store_id, cluster_id, backup_id, hsm_type, subnet_ids, zones)
    split = restore.index(disconnect(store_id))
    return (*restore[:split], "# pick a backup taken while the key existed", *check,
            *restore[split:])


def cancel_deletion(key_id: str) -> tuple[str, ...]:
    return (f"aws kms cancel-key-deletion --key-id {key_id}",
            f"aws kms enable-key --key-id {key_id}")


def enable_key(key_id: str) -> tuple[str, ...]:
    return (f"aws kms enable-key --key-id {key_id}",)


def activate_cluster(cluster_id: str) -> tuple[str, ...]:
    return (f"cloudhsm-cli cluster activate --cluster-id {cluster_id}",)
