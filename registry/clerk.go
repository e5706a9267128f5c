package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/argon2"
)

// The clerk console's accounts and sessions (docs/console.md). Passwords are
// argon2id hashes; the second factor is a TOTP code (RFC 6238) whose seed is
// sealed under the 個人番号 key's TOTP subkey; a signed-in session is a row of
// console_session, so any node serves any request.

// Role is what a console account may do; each account is also scoped to
// municipalities.
type Role string

// The roles.
const (
	RoleKosekiClerk   Role = "koseki_clerk"   // decides 本籍 applications
	RoleRegistryClerk Role = "registry_clerk" // stop list, sync
	RoleAuditor       Role = "auditor"        // reads
	RoleAdmin         Role = "admin"          // accounts
)

// Roles lists every role, in the order they are offered.
var Roles = []Role{RoleKosekiClerk, RoleRegistryClerk, RoleAuditor, RoleAdmin}

// Clerk is a console account, without its secrets.
type Clerk struct {
	Username      string
	Role          Role
	LGCodes       []string
	CreatedAt     time.Time
	PasswordSetAt time.Time
	DisabledAt    time.Time // zero while enabled
}

// Credentials are what a new or reset account is given, shown once: the
// password and the TOTP seed (base32) with its otpauth:// URI for an
// authenticator app.
type Credentials struct {
	Username   string
	Password   string
	TOTPSecret string
	TOTPURI    string
}

// QRCode is the enrolment's otpauth:// URI as a QR code, a PNG of size
// pixels square, for an authenticator app to scan.
func (c Credentials) QRCode(size int) ([]byte, error) {
	key, err := otp.NewKeyFromURL(c.TOTPURI)
	if err != nil {
		return nil, err
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// TOTPIssuer names the server in authenticator apps.
const TOTPIssuer = "証明書交付サーバ"

// Errors of the account functions.
var (
	ErrNoClerk     = errors.New("no such console account")
	ErrClerkExists = errors.New("a console account with that username exists")
	// ErrBadAccount is what an invalid username, role or scope wraps.
	ErrBadAccount = errors.New("invalid console account")
	// ErrSignIn is the one answer to a wrong username, password or code,
	// and to a disabled account: they are not told apart.
	ErrSignIn = errors.New("the username, password or code is not right")
	// ErrNoSession is a session that is unknown, signed out, idle too
	// long, too old, or whose account was disabled.
	ErrNoSession = errors.New("not signed in")
)

// ThrottledError refuses a sign-in attempt without checking it: too many
// failures for that username or from that address. Locked says it is the
// lock-out (not a back-off pause); RetryAfter is how long to wait.
type ThrottledError struct {
	Locked     bool
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	if e.Locked {
		return fmt.Sprintf("sign-in locked after repeated failures; retry after %s", e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("too many failed sign-ins; retry after %s", e.RetryAfter.Round(time.Second))
}

// SignInPolicy is how failed sign-ins slow and then stop further tries. The
// failures counted are those within Window, per typed username and per
// client address.
type SignInPolicy struct {
	Window time.Duration // failures older than this are forgotten (and a lock-out ends)
	// From BackoffAfter failures on, each further try waits 2^(n-BackoffAfter)
	// seconds after the last failure (n failures so far).
	BackoffAfter int
	LockUser     int // failures of one username within Window that lock it, until fewer remain within Window
	LockAddress  int // failures from one address within Window that lock that address likewise
}

// DefaultSignInPolicy: a pause from the third failure, and at most five
// failures per username per 15 minutes (then locked); an address trying
// many names is stopped at 20.
var DefaultSignInPolicy = SignInPolicy{Window: 15 * time.Minute, BackoffAfter: 3, LockUser: 5, LockAddress: 20}

// SessionPolicy is how long a console session lives.
type SessionPolicy struct {
	Idle     time.Duration // since the last request
	Absolute time.Duration // since sign-in
}

// DefaultSessionPolicy: 15 minutes idle, 8 hours at most.
var DefaultSessionPolicy = SessionPolicy{Idle: 15 * time.Minute, Absolute: 8 * time.Hour}

// ConsoleSession is a signed-in clerk.
type ConsoleSession struct {
	Clerk     Clerk
	CSRF      string // the token every form of this session carries
	CreatedAt time.Time
	LastSeen  time.Time
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

// CheckUsername says what is wrong with a username, naming the field.
func CheckUsername(u string) error {
	if !usernameRE.MatchString(u) {
		return fmt.Errorf("%w: username %q: 2 to 32 characters: lower-case letters, digits, '.', '_', '-', starting with a letter or digit", ErrBadAccount, u)
	}
	return nil
}

func checkAccount(username string, role Role, lgCodes []string) error {
	if err := CheckUsername(username); err != nil {
		return err
	}
	if !slices.Contains(Roles, role) {
		return fmt.Errorf("%w: role %q: not one of %v", ErrBadAccount, role, Roles)
	}
	if len(lgCodes) == 0 {
		return fmt.Errorf("%w: lgCodes: at least one municipality is required", ErrBadAccount)
	}
	for _, c := range lgCodes {
		if len(c) != 6 || strings.Trim(c, "0123456789") != "" {
			return fmt.Errorf("%w: lgCodes: %q is not a 団体コード (6 digits)", ErrBadAccount, c)
		}
	}
	return nil
}

// AddClerk creates an account with a fresh password and TOTP seed, returned
// once (they are not kept in clear).
func (s *Store) AddClerk(ctx context.Context, username string, role Role, lgCodes []string, now time.Time) (Credentials, error) {
	if err := checkAccount(username, role, lgCodes); err != nil {
		return Credentials{}, err
	}
	cr, hash, sealed, err := s.newCredentials(username)
	if err != nil {
		return Credentials{}, err
	}
	// Created in the scope of its municipalities (the policy of clerk).
	_, err = s.scoped(lgCodes).Exec(ctx, `INSERT INTO clerk (username, role, lg_codes, password_hash, totp_secret, created_at, password_set_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`, username, string(role), lgCodes, hash, sealed, now)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return Credentials{}, fmt.Errorf("username %q: %w", username, ErrClerkExists)
	}
	if err != nil {
		return Credentials{}, dbErr("add console account", err)
	}
	return cr, nil
}

// ResetClerk gives an account a new password and TOTP seed (returned once),
// enables it, lifts its lock-out and ends its sessions.
func (s *Store) ResetClerk(ctx context.Context, username string, now time.Time) (Credentials, error) {
	cr, hash, sealed, err := s.newCredentials(username)
	if err != nil {
		return Credentials{}, err
	}
	err = s.inClerkScope(ctx, username, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE clerk SET password_hash = $2, totp_secret = $3, totp_last_step = 0,
			disabled_at = NULL, password_set_at = $4 WHERE username = $1`, username, hash, sealed, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("username %q: %w", username, ErrNoClerk)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_failure WHERE key = $1`, RateKey("console-user", username)); err != nil {
			return err
		}
		return endConsoleSessions(ctx, tx, username, now)
	})
	if errors.Is(err, ErrNoClerk) {
		return Credentials{}, err
	}
	if err != nil {
		return Credentials{}, dbErr("reset console account", err)
	}
	return cr, nil
}

// DisableClerk disables an account and ends its sessions at once.
func (s *Store) DisableClerk(ctx context.Context, username string, now time.Time) error {
	err := s.inClerkScope(ctx, username, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE clerk SET disabled_at = $2 WHERE username = $1 AND disabled_at IS NULL`, username, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM clerk WHERE username = $1)`, username).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return fmt.Errorf("username %q: %w", username, ErrNoClerk)
			}
		}
		return endConsoleSessions(ctx, tx, username, now)
	})
	if errors.Is(err, ErrNoClerk) {
		return err
	}
	return dbErr("disable console account", err)
}

// inClerkScope runs fn in the tenant scope of an account's municipalities,
// which its changes need (the policy of clerk); ErrNoClerk when there is no
// such account. Accounts are readable unscoped: they are read to sign in.
func (s *Store) inClerkScope(ctx context.Context, username string, fn func(pgx.Tx) error) error {
	var lgCodes []string
	err := s.pool.QueryRow(ctx, `SELECT lg_codes::text[] FROM clerk WHERE username = $1`, username).Scan(&lgCodes)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("username %q: %w", username, ErrNoClerk)
	}
	if err != nil {
		return err
	}
	return s.inScope(ctx, lgCodes, fn)
}

func endConsoleSessions(ctx context.Context, tx pgx.Tx, username string, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE console_session SET ended_at = $2 WHERE username = $1 AND ended_at IS NULL`, username, now)
	return err
}

// Clerks lists the accounts, by username.
func (s *Store) Clerks(ctx context.Context) ([]Clerk, error) {
	rows, err := s.pool.Query(ctx, `SELECT username, role, lg_codes, created_at, password_set_at, disabled_at
		FROM clerk ORDER BY username`)
	if err != nil {
		return nil, dbErr("list console accounts", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Clerk, error) { return scanClerk(r) })
	return out, dbErr("list console accounts", err)
}

// ClerkByName returns one account.
func (s *Store) ClerkByName(ctx context.Context, username string) (Clerk, error) {
	c, err := scanClerk(s.pool.QueryRow(ctx, `SELECT username, role, lg_codes, created_at, password_set_at, disabled_at
		FROM clerk WHERE username = $1`, username))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("username %q: %w", username, ErrNoClerk)
	}
	return c, dbErr("read console account", err)
}

func scanClerk(r pgx.Row) (Clerk, error) {
	var c Clerk
	var role string
	var disabled *time.Time
	err := r.Scan(&c.Username, &role, &c.LGCodes, &c.CreatedAt, &c.PasswordSetAt, &disabled)
	c.Role = Role(role)
	if disabled != nil {
		c.DisabledAt = *disabled
	}
	return c, err
}

// newCredentials draws a password and a TOTP seed for username and returns
// them with the password's hash and the sealed seed.
func (s *Store) newCredentials(username string) (Credentials, string, []byte, error) {
	if s.key == nil {
		return Credentials{}, "", nil, errors.New("console accounts: the 個人番号 key is needed to seal TOTP seeds")
	}
	pw := NewPassword()
	key, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: username})
	if err != nil {
		return Credentials{}, "", nil, err
	}
	hash := hashPassword(pw, s.passwordCost())
	return Credentials{Username: username, Password: pw, TOTPSecret: key.Secret(), TOTPURI: key.URL()},
		hash, s.key.SealTOTP(username, key.Secret()), nil
}

// NewPassword draws a password: 20 characters of a 31-letter alphabet
// without look-alikes (about 99 bits), in groups of five to be copied by
// hand.
func NewPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	var b strings.Builder
	for i := range 20 {
		if i > 0 && i%5 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(alphabet[randIntn(len(alphabet))])
	}
	return b.String()
}

func randIntn(n int) int {
	var b [1]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		// Rejection sampling keeps the draw uniform.
		if int(b[0]) < 256-256%n {
			return int(b[0]) % n
		}
	}
}

// PasswordCost is the argon2id cost of new password hashes. Each hash
// records its own parameters (PHC string), so a hash made at one cost still
// verifies after the cost changes.
type PasswordCost struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// RFC9106Second is the default cost: RFC 9106 §4, the second recommended
// option (t=3, m=64 MiB, p=4; with a 128-bit salt and a 256-bit tag), for
// machines that cannot give a sign-in 2 GiB.
var RFC9106Second = PasswordCost{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// WithPasswordCost sets the cost of new console password hashes (and of the
// stand-in verified for an unknown username, so both take as long). Only
// tests that sign in many times lower it; RFC9106Second is the default.
func WithPasswordCost(c PasswordCost) StoreOption { return func(s *Store) { s.pwCost = c } }

func (s *Store) passwordCost() PasswordCost {
	if s.pwCost == (PasswordCost{}) {
		return RFC9106Second
	}
	return s.pwCost
}

const (
	argonSaltLen = 16
	argonKeyLen  = 32
)

// argonSlots bounds the hashes computed at once: each takes 64 MiB, so a
// burst of sign-ins must queue rather than exhaust the node's memory.
var argonSlots = make(chan struct{}, 2)

func argonKey(password, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return argon2.IDKey(password, salt, t, m, p, n)
}

// HashPassword returns the argon2id hash of a password at the default cost
// (RFC9106Second) as a PHC string: $argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>
// (unpadded base64).
func HashPassword(password string) string { return hashPassword(password, RFC9106Second) }

func hashPassword(password string, c PasswordCost) string {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	key := argonKey([]byte(password), salt, c.Time, c.MemoryKiB, c.Threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, c.MemoryKiB, c.Time, c.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether password matches a PHC string made by
// HashPassword (with the parameters it records), comparing in constant time.
func VerifyPassword(phc, password string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false, errors.New("password hash: not an argon2id PHC string")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<21 {
		return false, errors.New("password hash: bad parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 {
		return false, errors.New("password hash: bad salt or tag")
	}
	got := argonKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against for an unknown username, so that the
// answer takes as long as for a wrong password. Made on first use (a hash
// is not to be paid by every binary importing this package), one per cost.
func dummyHash(c PasswordCost) string {
	dummies.Lock()
	defer dummies.Unlock()
	if h, ok := dummies.m[c]; ok {
		return h
	}
	h := hashPassword("no account has this password", c)
	dummies.m[c] = h
	return h
}

var dummies = struct {
	sync.Mutex
	m map[PasswordCost]string
}{m: map[PasswordCost]string{}}

// totpOpts: RFC 6238 defaults, as authenticator apps expect.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// checkTOTP returns the step (±1 around now) whose code is code, or 0.
func checkTOTP(secret, code string, now time.Time) int64 {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0
	}
	cur := now.Unix() / 30
	var found int64
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = step
		}
	}
	return found
}

// SignIn checks a username, password and TOTP code from address and, when
// all are right, opens a session: it returns the session's token (for the
// cookie; only its hash is stored) and the session. Throttled tries get a
// *ThrottledError without being checked; every other failure is ErrSignIn,
// after the same work for an unknown username as for a known one.
func (s *Store) SignIn(ctx context.Context, username, password, code, address string, pol SignInPolicy, now time.Time) (string, ConsoleSession, error) {
	userKey, addrKey := RateKey("console-user", username), RateKey("console-addr", address)
	if err := s.throttled(ctx, pol, now, addrKey, userKey); err != nil {
		return "", ConsoleSession{}, err
	}
	var hash string
	var sealed []byte
	var disabled *time.Time
	var lgCodes []string
	err := s.pool.QueryRow(ctx, `SELECT password_hash, totp_secret, disabled_at, lg_codes::text[] FROM clerk WHERE username = $1`,
		username).Scan(&hash, &sealed, &disabled, &lgCodes)
	known := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", ConsoleSession{}, dbErr("sign in", err)
	}
	if !known {
		hash = dummyHash(s.passwordCost())
	}
	okPw, err := VerifyPassword(hash, password)
	if err != nil {
		return "", ConsoleSession{}, err
	}
	var step int64
	if known {
		secret, err := s.key.OpenTOTP(username, sealed)
		if err != nil {
			return "", ConsoleSession{}, err
		}
		step = checkTOTP(secret, code, now)
	}
	if !known || disabled != nil || !okPw || step == 0 {
		return "", ConsoleSession{}, s.failed(ctx, now, addrKey, userKey)
	}
	token, sess := randomToken(), ConsoleSession{CSRF: randomToken(), CreatedAt: now, LastSeen: now}
	err = s.inScope(ctx, lgCodes, func(tx pgx.Tx) error {
		// Each step's code is accepted once, on every node: a code seen
		// over a shoulder or replayed is refused.
		tag, err := tx.Exec(ctx, `UPDATE clerk SET totp_last_step = $2 WHERE username = $1 AND totp_last_step < $2
			AND disabled_at IS NULL`, username, step)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrSignIn
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_failure WHERE key = $1`, userKey); err != nil {
			return err
		}
		h := sha256.Sum256([]byte(token))
		_, err = tx.Exec(ctx, `INSERT INTO console_session (token_sha256, username, csrf, address, created_at, last_seen)
			VALUES ($1, $2, $3, $4, $5, $5)`, h[:], username, sess.CSRF, address, now)
		return err
	})
	if errors.Is(err, ErrSignIn) {
		return "", ConsoleSession{}, s.failed(ctx, now, addrKey, userKey)
	}
	if err != nil {
		return "", ConsoleSession{}, dbErr("sign in", err)
	}
	if sess.Clerk, err = s.ClerkByName(ctx, username); err != nil {
		return "", ConsoleSession{}, err
	}
	return token, sess, nil
}

// throttled says whether a try is refused unchecked by the policy.
func (s *Store) throttled(ctx context.Context, pol SignInPolicy, now time.Time, addrKey, userKey string) error {
	var addrN, userN int
	var addrFirst, userNth, userLast *time.Time
	err := s.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE key = $1), min(at) FILTER (WHERE key = $1),
			count(*) FILTER (WHERE key = $2), max(at) FILTER (WHERE key = $2)
		FROM login_failure WHERE key IN ($1, $2) AND at > $3`, addrKey, userKey, now.Add(-pol.Window)).
		Scan(&addrN, &addrFirst, &userN, &userLast)
	if err != nil {
		return dbErr("sign in", err)
	}
	if addrN >= pol.LockAddress {
		return &ThrottledError{Locked: true, RetryAfter: addrFirst.Add(pol.Window).Sub(now)}
	}
	if userN >= pol.LockUser {
		// Locked until fewer than LockUser failures remain in the window:
		// until the oldest of the last LockUser failures leaves it.
		err := s.pool.QueryRow(ctx, `SELECT at FROM login_failure WHERE key = $1 AND at > $2
			ORDER BY at DESC OFFSET $3 LIMIT 1`, userKey, now.Add(-pol.Window), pol.LockUser-1).Scan(&userNth)
		if err != nil {
			return dbErr("sign in", err)
		}
		return &ThrottledError{Locked: true, RetryAfter: userNth.Add(pol.Window).Sub(now)}
	}
	if pol.BackoffAfter > 0 && userN >= pol.BackoffAfter {
		wait := time.Duration(1<<(userN-pol.BackoffAfter)) * time.Second
		if until := userLast.Add(wait); now.Before(until) {
			return &ThrottledError{RetryAfter: until.Sub(now)}
		}
	}
	return nil
}

// failed records a failed try for the address and the username, forgets
// failures older than a day, and returns ErrSignIn.
func (s *Store) failed(ctx context.Context, now time.Time, addrKey, userKey string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO login_failure (key, at) VALUES ($1, $3), ($2, $3)`, addrKey, userKey, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM login_failure WHERE at < $1`, now.Add(-24*time.Hour))
		return err
	})
	if err != nil {
		return dbErr("sign in", err)
	}
	return ErrSignIn
}

// ConsoleSession returns the live session of a cookie's token and marks it seen at
// now: ErrNoSession when the token is unknown, signed out, idle longer than
// pol.Idle, older than pol.Absolute, or its account is disabled.
func (s *Store) ConsoleSession(ctx context.Context, token string, pol SessionPolicy, now time.Time) (ConsoleSession, error) {
	if token == "" {
		return ConsoleSession{}, ErrNoSession
	}
	h := sha256.Sum256([]byte(token))
	var sess ConsoleSession
	var username string
	err := s.pool.QueryRow(ctx, `UPDATE console_session s SET last_seen = greatest(s.last_seen, $2)
		FROM clerk c WHERE s.token_sha256 = $1 AND s.ended_at IS NULL AND c.username = s.username AND c.disabled_at IS NULL
		AND s.last_seen > $3 AND s.created_at > $4
		RETURNING s.username, s.csrf, s.created_at, s.last_seen`, h[:], now, now.Add(-pol.Idle), now.Add(-pol.Absolute)).
		Scan(&username, &sess.CSRF, &sess.CreatedAt, &sess.LastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return sess, ErrNoSession
	}
	if err != nil {
		return sess, dbErr("console session", err)
	}
	sess.Clerk, err = s.ClerkByName(ctx, username)
	return sess, err
}

// ConsoleSignOut ends the session of a token (nothing when there is none).
func (s *Store) ConsoleSignOut(ctx context.Context, token string, now time.Time) error {
	h := sha256.Sum256([]byte(token))
	_, err := s.pool.Exec(ctx, `UPDATE console_session SET ended_at = $2 WHERE token_sha256 = $1 AND ended_at IS NULL`, h[:], now)
	return dbErr("sign out", err)
}

// PurgeConsole deletes sessions ended or idle for a day and failures older
// than a day (a scheduled job may call it; sign-ins also purge failures).
func (s *Store) PurgeConsole(ctx context.Context, now time.Time) error {
	cutoff := now.Add(-24 * time.Hour)
	_, err := s.pool.Exec(ctx, `DELETE FROM console_session WHERE coalesce(ended_at, last_seen) < $1`, cutoff)
	if err == nil {
		_, err = s.pool.Exec(ctx, `DELETE FROM login_failure WHERE at < $1`, cutoff)
	}
	return dbErr("purge console", err)
}

// randomToken is 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
