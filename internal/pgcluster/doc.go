// Package pgcluster runs a private PostgreSQL cluster: initdb (as the
// postgres user when running as root, since initdb refuses root), the
// server on a Unix socket only, the roles and the issuance database. It is
// cmd/devdb's cluster, and the one tests start when they must stop and
// restart PostgreSQL under a running server without disturbing the shared
// test cluster.
package pgcluster
