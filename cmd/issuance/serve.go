package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/render"
	"github.com/lgwan/issuance/soap"
	"github.com/lgwan/issuance/web/status"
)

// server is one running node: the SOAP listener, the web listener and the
// scheduled jobs, all sharing one pool.
type server struct {
	cfg   *Config
	clock issuance.Clock
	pool  *pgxpool.Pool
	rev   *pki.Revocation
	// jpkiRoots counts the configured roots: each needs a current CRL.
	jpkiRoots int
	keyring   *pki.Keyring
	store     *registry.Store
	replay    *registry.Replay
	metrics   *prometheus.Registry
	soap      *http.Server
	web       *http.Server
	soapLn    net.Listener
	webLn     net.Listener

	// statusPage is the resident's status page (/status).
	statusPage http.Handler
	// staleness is the Service's MaxStaleness, shown by the console.
	staleness map[string]map[issuance.DataDomain]time.Duration
	// gate is the deployment-wide stop as this node knows it, and
	// crlRefreshed the last revocation refresh without error (stopall*.go).
	gate         *serviceGate
	crlRefreshed atomic.Pointer[time.Time]
	// lgCodes are the municipalities served: the tenant scope of the jobs
	// and pages that work across them (docs/tenants.md).
	lgCodes []string
}

func serve(ctx context.Context, cfg *Config) error {
	if err := cfg.validateServe(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := newServer(ctx, cfg, issuance.SystemClock{})
	if err != nil {
		return err
	}
	defer s.pool.Close()
	return s.run(ctx)
}

// newServer builds a node and binds its listeners. Tests call it with a
// manual clock and ports 0.
func newServer(ctx context.Context, cfg *Config, clock issuance.Clock) (*server, error) {
	munis, err := cfg.municipalities()
	if err != nil {
		return nil, err
	}
	staleness, err := cfg.staleness()
	if err != nil {
		return nil, err
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.Database.URL)
	if err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	poolCfg.MaxConns = int32(cfg.Database.MaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			pool.Close()
		}
	}()
	if v, err := registry.SchemaVersion(ctx, pool); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	} else if v != registry.LatestVersion() {
		return nil, fmt.Errorf("database schema is at version %d, this binary needs %d: run `issuance migrate`", v, registry.LatestVersion())
	}
	keiinKey, err := os.ReadFile(cfg.Render.KeiinKeyFile)
	if err != nil {
		return nil, fmt.Errorf("render.keiin_key_file: %w", err)
	}
	var roots []*x509.Certificate
	for _, p := range cfg.JPKI.Roots {
		cs, err := pki.LoadCertificates(p)
		if err != nil {
			return nil, fmt.Errorf("jpki.roots: %w", err)
		}
		roots = append(roots, cs...)
	}
	var factsSigners []*x509.Certificate
	for _, p := range cfg.JPKI.FactsSigners {
		cs, err := pki.LoadCertificates(p)
		if err != nil {
			return nil, fmt.Errorf("jpki.facts_signers: %w", err)
		}
		factsSigners = append(factsSigners, cs...)
	}
	tlsCfg, err := serverTLS(cfg.SOAP)
	if err != nil {
		return nil, err
	}
	rev, err := pki.NewRevocation(roots, clock, pki.RevocationConfig{CRLDir: cfg.JPKI.CRLDir,
		CRLURLs: cfg.JPKI.CRLURLs, OCSPURL: cfg.JPKI.OCSPURL})
	if err != nil {
		return nil, fmt.Errorf("jpki: %w", err)
	}
	// Without a current CRL every card is refused (RevocationUnknown), so
	// a failure here is reported but does not stop the node: the next
	// refresh may succeed, and /readyz says what is missing meanwhile.
	crlErr := rev.Refresh(ctx)
	if crlErr != nil {
		slog.Warn("revocation data not current", "err", crlErr)
	}
	sealFiles, err := cfg.sealFiles()
	if err != nil {
		return nil, err
	}
	keyring, err := pki.LoadKeyring(sealFiles, cfg.Seal.CodeKeys, clock)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	renderer, err := render.New(cfg.Render.Font, render.WithLabelFonts(cfg.Render.LabelFonts...),
		render.WithKeiinKey(keiinKey), backSides(keyring))
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	myNumberKey, err := cfg.Sync.myNumberKey()
	if err != nil {
		return nil, err
	}
	if myNumberKey == nil {
		// Stored answers hold certificates: they are never kept in clear.
		return nil, fmt.Errorf("sync.my_number_key: required: it also seals the answers kept for replay")
	}
	store := registry.NewStore(pool, registry.WithMyNumberKey(myNumberKey))
	replay := registry.NewReplay(pool, myNumberKey, clock)
	gate := &serviceGate{store: store}
	if _, err := gate.refresh(ctx); err != nil {
		return nil, fmt.Errorf("service state: %w", err)
	}
	lgCodes := slices.Sorted(maps.Keys(munis))
	svc, err := issuance.NewService(issuance.Service{
		Clock:          clock,
		Ledger:         store,
		Registry:       store,
		Verifier:       pki.NewVerifier(roots, clock, pki.WithRevocation(rev)),
		Renderer:       newRenderSlots(newSealedRenderer(renderer, keyring, clock)),
		Municipalities: munis,
		SessionTTL:     cfg.SOAP.SessionTTL,
		MaxCopies:      cfg.SOAP.MaxCopies,
		MaxStaleness:   staleness,
		Applications:   store,
		Facts:          pki.NewFactsVerifier(factsSigners, clock),
		Limiter:        registry.NewRateLimiter(pool),
		StatusLimits:   cfg.Honseki.StatusLimits(),
		Admission:      gate,
	})
	if err != nil {
		return nil, err
	}
	for _, lang := range render.Languages {
		if lang != "ja" && renderer.LanguageAvailable(lang) {
			svc.Languages = append(svc.Languages, lang)
		}
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		freshnessCollector{store, clock, lgCodes}, auditCollector{store})
	soapHandler := soap.NewServer(soap.Config{Node: cfg.Node, MaxBodyBytes: cfg.SOAP.MaxBodyBytes, Clock: clock, Log: slog.Default()},
		svc, replay, metrics)
	s := &server{cfg: cfg, clock: clock, pool: pool, rev: rev, jpkiRoots: len(roots), keyring: keyring, store: store,
		replay: replay, metrics: metrics, staleness: staleness, gate: gate, lgCodes: lgCodes}
	if err := s.auditStart(ctx); err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	if crlErr == nil {
		now := clock.Now()
		s.crlRefreshed.Store(&now)
	}
	ops, err := newOpsCollector(s, munis)
	if err != nil {
		return nil, err
	}
	metrics.MustRegister(ops)
	// Its tries are counted in the shared rate windows, so every node
	// holds the same limits.
	if s.statusPage, err = status.New(status.Options{Store: store, Limiter: registry.NewRateLimiter(pool), Clock: clock, Municipalities: s.lgCodes}); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/wide-area/v4", soapHandler)
	s.soap = &http.Server{Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 60 * time.Second, WriteTimeout: 120 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
	s.web = &http.Server{Handler: s.webHandler(munis), ReadHeaderTimeout: 10 * time.Second}
	if cfg.Web.TLS() {
		if s.web.TLSConfig, err = webTLS(cfg.Web); err != nil {
			return nil, err
		}
	}
	if s.soapLn, err = net.Listen("tcp", cfg.SOAP.Listen); err != nil {
		return nil, fmt.Errorf("soap.listen: %w", err)
	}
	if s.webLn, err = net.Listen("tcp", cfg.Web.Listen); err != nil {
		s.soapLn.Close()
		return nil, fmt.Errorf("web.listen: %w", err)
	}
	ok = true
	return s, nil
}

// webURL is the web port's base URL, https when it speaks TLS.
func (s *server) webURL() string {
	scheme := "http://"
	if s.web.TLSConfig != nil {
		scheme = "https://"
	}
	return scheme + s.webLn.Addr().String() + "/"
}

// serverTLS requires a client certificate chaining to the centre's CA: a
// connection without one never reaches the handler.
func serverTLS(c SOAPConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("soap.tls_cert/tls_key: %w", err)
	}
	pem, err := os.ReadFile(c.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("soap.client_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("soap.client_ca: %s holds no PEM certificate", c.ClientCA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// run serves until ctx ends, then shuts down gracefully: listeners stop
// accepting, requests in flight finish (a kiosk is never cut off mid-answer),
// and the scheduled jobs stop.
func (s *server) run(ctx context.Context) error {
	jobs, err := s.startJobs()
	if err != nil {
		return err
	}
	go s.gate.run(ctx)
	errc := make(chan error, 2)
	go func() { errc <- s.soap.ServeTLS(s.soapLn, "", "") }()
	go func() {
		if s.web.TLSConfig != nil {
			errc <- s.web.ServeTLS(s.webLn, "", "")
		} else {
			errc <- s.web.Serve(s.webLn)
		}
	}()
	soapURL, webURL := "https://"+s.soapLn.Addr().String()+"/wide-area/v4", s.webURL()
	slog.Info("serving", "node", s.cfg.Node, "soap", soapURL, "web", webURL)
	fmt.Fprintf(os.Stderr, "\n  SOAP (mutual TLS): %s\n  WSDL:              %s?wsdl\n  Node status:       %s\n  Metrics:           %smetrics\n  Clerks' console:   %sconsole/\n  Residents' status: %sstatus\n\n",
		soapURL, soapURL, webURL, webURL, webURL, webURL)
	// SIGHUP re-reads the seal keys: a rotated key takes over without a
	// restart, and a reload that fails keeps the keys in use.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-hup:
			s.reloadKeys(ctx)
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			break wait
		}
	}
	slog.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	<-jobs.Stop().Done()
	return errors.Join(s.soap.Shutdown(shutCtx), s.web.Shutdown(shutCtx))
}

// freshnessCollector exports the age of every municipality's data by domain,
// read from the database at each scrape, so every node reports the same.
type freshnessCollector struct {
	store   *registry.Store
	clock   issuance.Clock
	lgCodes []string
}

var freshnessDesc = prometheus.NewDesc("issuance_data_age_seconds",
	"Age of each municipality's data by domain, from its extraction in the legacy system.",
	[]string{"lg_code", "domain"}, nil)

func (f freshnessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- freshnessDesc }

func (f freshnessCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	fs, err := f.store.Freshness(ctx, f.lgCodes)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(freshnessDesc, err)
		return
	}
	now := f.clock.Now()
	for _, x := range fs {
		ch <- prometheus.MustNewConstMetric(freshnessDesc, prometheus.GaugeValue, x.Age(now).Seconds(), x.LGCode, string(x.Domain))
	}
}
