package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/registry"
)

// The audit trail's side of the binary (docs/audit.md): `issuance audit`,
// the audit-publish job and its metrics, and what a node records when it
// starts and when its seal keys are reloaded.

// AuditConfig is the `audit` section of the configuration.
//
//	audit:
//	  publish_schedule: "@daily"   # cron, Asia/Tokyo: verify the chains, log and export their heads
type AuditConfig struct {
	PublishSchedule string `mapstructure:"publish_schedule" default:"@daily"`
}

func (a AuditConfig) validate() error {
	if _, err := jobSchedule(a.PublishSchedule); err != nil {
		return fmt.Errorf("audit.publish_schedule: %v", err)
	}
	return nil
}

// lockAuditPublish is the advisory lock key of the audit-publish job.
const lockAuditPublish = 0x15_5a_4e_a1

// auditMain is `issuance audit verify [-head CHAIN:SEQ:HASH ...]` and
// `issuance audit head`. verify exits 0 when every chain verifies, 1 when
// one does not (each broken chain's first bad entry is printed), 2 when it
// cannot tell (configuration, database, usage).
func auditMain(args []string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "issuance audit:", err)
		return 2
	}
	if len(args) == 0 || (args[0] != "verify" && args[0] != "head") {
		return fail(errors.New("usage: issuance audit verify [--config FILE] [-head CHAIN:SEQ:HASH ...] | head [--config FILE]"))
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", os.Getenv("ISSUANCE_CONFIG"), "configuration file (YAML)")
	var heads []registry.AuditHead
	if args[0] == "verify" {
		fs.Func("head", "a head published earlier, CHAIN:SEQ:HASH (as `issuance audit head` prints it); repeat for several", func(s string) error {
			h, err := registry.ParseAuditHead(s)
			heads = append(heads, h)
			return err
		})
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	pool, err := openDatabase(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	store := registry.NewStore(pool)
	if args[0] == "head" {
		hs, err := store.AuditHeads(ctx)
		if err != nil {
			return fail(err)
		}
		for _, h := range hs {
			fmt.Fprintln(stdout, h)
		}
		return 0
	}
	rep, err := store.VerifyAudit(ctx, heads...)
	if err != nil {
		return fail(err)
	}
	for _, c := range rep.Chains {
		if c.Break == nil {
			fmt.Fprintf(stdout, "ok      %s: %d entries, head %s\n", c.Chain, c.Entries, c.Head)
			continue
		}
		fmt.Fprintf(stdout, "BROKEN  %s\n", c.Break)
		if e := c.Break.Entry; e != nil {
			fmt.Fprintf(stdout, "        entry %s/%d at %s: %s %q %s\n", e.Chain, e.Seq, e.At.UTC().Format(time.RFC3339Nano), e.Kind, e.Subject, e.Detail)
		}
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

// publishAudit is the audit-publish job: it verifies every chain, logs
// each head, and records heads and verdicts in the system chain, from which
// every node's /metrics reads them (auditCollector).
func (s *server) publishAudit(ctx context.Context) error {
	rep, err := s.store.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	for _, c := range rep.Chains {
		if c.Break != nil {
			slog.Error("audit chain broken", "chain", c.Chain, "seq", c.Break.Seq, "problem", c.Break.Problem, "why", c.Break.Why)
		}
		slog.Info("audit head", "chain", c.Chain, "seq", c.Head.Seq, "hash", hex.EncodeToString(c.Head.Hash), "verified", c.Break == nil)
	}
	return s.store.PublishAudit(ctx, rep)
}

// auditCollector exports the last publication, read from the database at
// each scrape, so every node reports the same whichever ran the job.
type auditCollector struct{ store *registry.Store }

var (
	auditHeadDesc = prometheus.NewDesc("issuance_audit_head_seq",
		"Seq of each audit chain's head at the last audit-publish run.", []string{"chain"}, nil)
	auditVerifiedDesc = prometheus.NewDesc("issuance_audit_verified",
		"1 when the chain verified at the last audit-publish run, 0 when it was broken.", []string{"chain"}, nil)
	auditVerifiedAtDesc = prometheus.NewDesc("issuance_audit_verified_timestamp_seconds",
		"When the last audit-publish run recorded its verification (Unix time).", nil, nil)
)

func (a auditCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- auditHeadDesc
	ch <- auditVerifiedDesc
	ch <- auditVerifiedAtDesc
}

func (a auditCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	p, ok, err := a.store.LastAuditPublication(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(auditVerifiedAtDesc, err)
		return
	}
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(auditVerifiedAtDesc, prometheus.GaugeValue, float64(p.At.UnixMilli())/1000)
	for _, c := range p.Chains {
		verified := 0.0
		if c.Verified {
			verified = 1
		}
		ch <- prometheus.MustNewConstMetric(auditHeadDesc, prometheus.GaugeValue, float64(c.Seq), c.Chain)
		ch <- prometheus.MustNewConstMetric(auditVerifiedDesc, prometheus.GaugeValue, verified, c.Chain)
	}
}

// auditStart records, as a node starts, the configuration it loaded (a
// digest) and the seal keys it holds.
func (s *server) auditStart(ctx context.Context) error {
	digest, err := configDigest(s.cfg)
	if err != nil {
		return err
	}
	if err := s.store.AuditSystem(ctx, "config", s.cfg.Node, map[string]any{"sha256": digest}); err != nil {
		return err
	}
	return s.auditKeys(ctx)
}

// auditKeys records each municipality's seal and code key in use when it
// differs from the last recorded (key_rotation): at start and after a
// reload.
func (s *server) auditKeys(ctx context.Context) error {
	var keys []registry.AuditKey
	for i, mc := range s.cfg.Municipalities {
		seal, err := s.keyring.Seal(mc.Code)
		if err != nil {
			return err
		}
		spki := sha256.Sum256(seal.Cert.RawSubjectPublicKeyInfo)
		cert := sha256.Sum256(seal.Cert.Raw)
		keys = append(keys, registry.AuditKey{Subject: "seal/" + mc.Code, Fingerprint: hex.EncodeToString(spki[:]),
			Detail: map[string]any{"lg_code": mc.Code, "key": "seal", "certificate_sha256": hex.EncodeToString(cert[:]), "node": s.cfg.Node}})
		// The keyring signs codes with the key it read from this file; the
		// file names the key, never the key itself.
		code, err := pki.LoadPrivateKey(mc.CodeKey)
		if err != nil {
			return fmt.Errorf("municipalities[%d].code_key: %w", i, err)
		}
		der, err := x509.MarshalPKIXPublicKey(code.Public())
		if err != nil {
			return err
		}
		sum := sha256.Sum256(der)
		keys = append(keys, registry.AuditKey{Subject: "code/" + mc.Code, Fingerprint: hex.EncodeToString(sum[:]),
			Detail: map[string]any{"lg_code": mc.Code, "key": "code", "key_id": hex.EncodeToString(sum[:8]), "node": s.cfg.Node}})
	}
	n, err := s.store.AuditKeys(ctx, keys)
	if n > 0 {
		slog.Info("key rotations recorded in the audit trail", "count", n)
	}
	return err
}

// reloadKeys is SIGHUP: the seal keys are re-read and, when that worked,
// a changed key is recorded.
func (s *server) reloadKeys(ctx context.Context) {
	if err := s.reloadSeals(); err != nil {
		slog.Error("seal keys not reloaded; the previous keys stay in use", "err", err)
		return
	}
	slog.Info("seal keys reloaded")
	if err := s.auditKeys(ctx); err != nil {
		slog.Error("key rotation not recorded in the audit trail", "err", err)
	}
}

var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// configDigest is the hex SHA-256 of the configuration as loaded (file,
// environment and defaults): the canonical JSON (registry.CanonicalJSON)
// of its values and paths, with the passwords of database URLs replaced.
// Key files are named by their paths; their contents are not read here.
func configDigest(cfg *Config) (string, error) {
	c := *cfg
	for _, u := range []*string{&c.Database.URL, &c.Database.MigrateURL} {
		if p, err := url.Parse(*u); err == nil && p.User != nil {
			if _, has := p.User.Password(); has {
				p.User = url.UserPassword(p.User.Username(), "redacted")
				*u = p.String()
			}
		}
		*u = dsnPassword.ReplaceAllString(*u, "${1}redacted")
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := registry.CanonicalJSON(&buf, v); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), nil
}
