"""A small IAM (spec authz.md §3): users and their access keys, roles with trust policies,
inline and managed policies, per account, kept in the store. :mod:`.directory` is the domain
(pure and synchronous, over the store's repositories); :mod:`.api` serves it over the query
protocol (``Version=2010-05-08``, signing name ``iam``)."""
