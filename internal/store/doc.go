// Package store is the contract of vigil's storage layer: the domain types it
// keeps, the queries it answers, the Store interface and its sentinel errors.
// Implementations live in sibling packages (store/sqlite, store/postgres) and
// pass one conformance suite (store/storetest); this package imports no driver.
//
// # Model
//
// Everything a customer owns belongs to an Account. An account authenticates
// with API keys (SecretId + encrypted SecretKey) and owns:
//
//   - Hosts: machines running the vigil agent, keyed by their public UUID.
//   - RiskProcessEvents (cwp): a malicious process seen running on a host.
//     One row per (host, pid, process start time, rule); a repeat detection
//     only moves DetectTime forward.
//   - VirusEvents (tcss): a trojan file found in a running container on a host.
//     One row per (host, container, file path, file md5).
//   - Registries, their RegistryImages and, per image, the ImageViruses a scan
//     found in it.
//
// Descriptions of a detection (tags, description, solution in Chinese and
// English, reference link) are not copied into every event: they live once per
// virus name in the global Threat catalog, which the rule engine fills, and are
// joined in on read. Events only reference the name; inserting an event with a
// name the catalog does not know yet adds a bare catalog entry.
//
// # Tenant scoping
//
// Every method that reads or writes an account's data takes the account id
// right after ctx, and every statement carries it: another account's row is
// ErrNotFound — never visible, never modifiable. The only reads that are not
// scoped are the ones that establish the scope or are not customer data:
// GetAPIKey (authentication looks the key up to learn its account) and the
// Threat catalog.
//
// # Time
//
// Times are stored in UTC with microsecond precision and come back in UTC
// (time.Location UTC), truncated to the microsecond; callers may pass times in
// any location. A zero time.Time means "not set" and is stored as NULL.
//
// # Errors
//
// Methods wrap ErrNotFound, ErrConflict and ErrInvalid (with %w) so callers
// test them with errors.Is; anything else is an internal failure.
package store
