package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Account is a registered account: a data pod known to the network.
type Account struct {
	ID uuid.UUID
	// CertChain is the PEM chain of the account's latest TLS certificate.
	CertChain string
	Created   time.Time
	Updated   time.Time
}

// Record is a DNS record of the network's zone: Name (lower case, without
// the trailing dot) resolves to Addr. A record without a valid Addr has been
// deleted. Serial is the zone serial of the record's last change.
type Record struct {
	Name   string
	Addr   netip.Addr
	Serial uint64
}

// Service is a registered service.
type Service struct {
	ID uint32
	// CAChain is the PEM chain of the service CA the network signed.
	CAChain string
	// DataChain is the PEM chain of the service's data certificate, once
	// the service has registered it.
	DataChain string
	// Contract is the countersigned contract, and Summary describes it;
	// both are empty (Summary.Version 0) until the first is accepted.
	Contract []byte
	Summary  Summary
	Created  time.Time
	Updated  time.Time
}

// Summary is what the service listing shows of a contract.
type Summary struct {
	ServiceID    uint32
	Version      int
	Name         string
	Description  string
	Owner        string
	Website      string
	SupportEmail string
}

// CreateAccount registers account id with the PEM chain of its first
// certificate and, when rec is not nil, its DNS record, in one transaction.
// It returns an error wrapping ErrExists when id is taken: the first
// registration wins.
func (r *DB) CreateAccount(ctx context.Context, id uuid.UUID, chain string, rec *Record) error {
	now := r.stamp()
	err := r.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO accounts (account_id, cert_chain, created_at, updated_at)
			VALUES ($1, $2, $3, $3) ON CONFLICT (account_id) DO NOTHING`, id.String(), chain, now)
		if err := oneRow(res, err, ErrExists); err != nil {
			return err
		}
		if rec != nil {
			_, err := r.setRecord(ctx, tx, rec.Name, rec.Addr)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create account %s: %w", id, err)
	}
	return nil
}

// RenewAccount replaces the certificate chain of account id.
func (r *DB) RenewAccount(ctx context.Context, id uuid.UUID, chain string) error {
	res, err := r.exec(ctx, `UPDATE accounts SET cert_chain = $2, updated_at = $3 WHERE account_id = $1`,
		id.String(), chain, r.stamp())
	if err := oneRow(res, err, ErrNotFound); err != nil {
		return fmt.Errorf("renew account %s: %w", id, err)
	}
	return nil
}

// Account returns account id.
func (r *DB) Account(ctx context.Context, id uuid.UUID) (*Account, error) {
	a := &Account{ID: id}
	var created, updated int64
	err := r.db.QueryRowContext(ctx, `SELECT cert_chain, created_at, updated_at FROM accounts WHERE account_id = $1`,
		id.String()).Scan(&a.CertChain, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", id, err)
	}
	a.Created, a.Updated = fromMillis(created), fromMillis(updated)
	return a, nil
}

// CreateService registers service sid with the PEM chain of its service CA.
// It returns an error wrapping ErrExists when sid is taken.
func (r *DB) CreateService(ctx context.Context, sid uint32, caChain string) error {
	now := r.stamp()
	res, err := r.exec(ctx, `INSERT INTO services (service_id, ca_chain, created_at, updated_at)
		VALUES ($1, $2, $3, $3) ON CONFLICT (service_id) DO NOTHING`, int64(sid), caChain, now)
	if err := oneRow(res, err, ErrExists); err != nil {
		return fmt.Errorf("create service %d: %w", sid, err)
	}
	return nil
}

// RenewService replaces the service CA chain of service sid.
func (r *DB) RenewService(ctx context.Context, sid uint32, caChain string) error {
	res, err := r.exec(ctx, `UPDATE services SET ca_chain = $2, updated_at = $3 WHERE service_id = $1`,
		int64(sid), caChain, r.stamp())
	if err := oneRow(res, err, ErrNotFound); err != nil {
		return fmt.Errorf("renew service %d: %w", sid, err)
	}
	return nil
}

// Service returns service sid.
func (r *DB) Service(ctx context.Context, sid uint32) (*Service, error) {
	s := &Service{ID: sid, Summary: Summary{ServiceID: sid}}
	var created, updated int64
	err := r.db.QueryRowContext(ctx, `SELECT ca_chain, data_chain, contract, version, name, description, owner,
		website, supportemail, created_at, updated_at FROM services WHERE service_id = $1`, int64(sid)).Scan(
		&s.CAChain, &s.DataChain, &s.Contract, &s.Summary.Version, &s.Summary.Name, &s.Summary.Description,
		&s.Summary.Owner, &s.Summary.Website, &s.Summary.SupportEmail, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("service %d: %w", sid, err)
	}
	s.Created, s.Updated = fromMillis(created), fromMillis(updated)
	return s, nil
}

// SetServiceData records the data certificate chain of service sid and its
// DNS record, in one transaction.
func (r *DB) SetServiceData(ctx context.Context, sid uint32, dataChain string, rec Record) error {
	err := r.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE services SET data_chain = $2, updated_at = $3 WHERE service_id = $1`,
			int64(sid), dataChain, r.stamp())
		if err := oneRow(res, err, ErrNotFound); err != nil {
			return err
		}
		_, err = r.setRecord(ctx, tx, rec.Name, rec.Addr)
		return err
	})
	if err != nil {
		return fmt.Errorf("set data certificate of service %d: %w", sid, err)
	}
	return nil
}

// SetContract stores the countersigned contract of service s.ServiceID if
// its version is higher than the stored one's; otherwise it returns an error
// wrapping ErrStale (or ErrNotFound for an unknown service). The check and
// the write are one statement, so two submissions racing cannot both win.
func (r *DB) SetContract(ctx context.Context, s Summary, signed []byte) error {
	for _, f := range []string{s.Name, s.Description, s.Owner, s.Website, s.SupportEmail} {
		if strings.IndexByte(f, 0) >= 0 {
			return fmt.Errorf("set contract of service %d: %w: a summary field holds a NUL character", s.ServiceID, ErrInvalid)
		}
	}
	res, err := r.exec(ctx, `UPDATE services SET contract = $2, version = $3, name = $4, description = $5,
		owner = $6, website = $7, supportemail = $8, updated_at = $9 WHERE service_id = $1 AND version < $3`,
		int64(s.ServiceID), signed, s.Version, s.Name, s.Description, s.Owner, s.Website, s.SupportEmail, r.stamp())
	if err := oneRow(res, err, nil); err == nil {
		return nil
	} else if !errors.Is(err, errNoRows) {
		return fmt.Errorf("set contract of service %d: %w", s.ServiceID, err)
	}
	var have int
	err = r.db.QueryRowContext(ctx, `SELECT version FROM services WHERE service_id = $1`, int64(s.ServiceID)).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("set contract of service %d: %w", s.ServiceID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("set contract of service %d: %w", s.ServiceID, err)
	}
	return fmt.Errorf("set contract of service %d: version %d: %w (%d)", s.ServiceID, s.Version, ErrStale, have)
}

// ListServices returns the summaries of the services with a contract whose
// id is above after (all when after is negative), lowest id first, at most
// limit of them.
func (r *DB) ListServices(ctx context.Context, after int64, limit int) ([]Summary, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT service_id, version, name, description, owner, website, supportemail
		FROM services WHERE service_id > $1 AND version > 0 ORDER BY service_id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var s Summary
		var sid int64
		if err := rows.Scan(&sid, &s.Version, &s.Name, &s.Description, &s.Owner, &s.Website, &s.SupportEmail); err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		s.ServiceID = uint32(sid)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return out, nil
}

// RegisterMember records member mid of service sid and its DNS record, in
// one transaction. It returns an error wrapping ErrNotFound when the
// service is not registered.
func (r *DB) RegisterMember(ctx context.Context, sid uint32, mid uuid.UUID, rec Record) error {
	now := r.stamp()
	err := r.tx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM services WHERE service_id = $1`, int64(sid)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("service %d: %w", sid, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO members (service_id, member_id, created_at, updated_at)
			VALUES ($1, $2, $3, $3) ON CONFLICT (service_id, member_id) DO UPDATE SET updated_at = excluded.updated_at`,
			int64(sid), mid.String(), now); err != nil {
			return err
		}
		_, err = r.setRecord(ctx, tx, rec.Name, rec.Addr)
		return err
	})
	if err != nil {
		return fmt.Errorf("register member %s of service %d: %w", mid, sid, err)
	}
	return nil
}

// SetRecord publishes name (lower case, no trailing dot) with addr, or
// deletes it when addr is not valid, and returns the zone serial of the
// change. Setting the address a name has already changes nothing and
// returns the record's serial.
func (r *DB) SetRecord(ctx context.Context, name string, addr netip.Addr) (uint64, error) {
	var serial uint64
	err := r.tx(ctx, func(tx *sql.Tx) error {
		var err error
		serial, err = r.setRecord(ctx, tx, name, addr)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("set DNS record %s: %w", name, err)
	}
	return serial, nil
}

// setRecord writes a record in tx. Taking the serial row's lock comes
// last but for the write itself: see the package documentation.
func (r *DB) setRecord(ctx context.Context, tx *sql.Tx, name string, addr netip.Addr) (uint64, error) {
	value := ""
	if addr.IsValid() {
		value = addr.Unmap().String()
	}
	var old string
	var oldSerial int64
	err := tx.QueryRowContext(ctx, `SELECT addr, serial FROM dns_records WHERE name = $1`, name).Scan(&old, &oldSerial)
	switch {
	case err == nil && old == value:
		return uint64(oldSerial), nil
	case errors.Is(err, sql.ErrNoRows) && value == "":
		return 0, nil // deleting a record that never was
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return 0, err
	}
	var serial int64
	if err := tx.QueryRowContext(ctx, `UPDATE dns_serial SET serial = serial + 1 WHERE id = 1 RETURNING serial`).Scan(&serial); err != nil {
		return 0, fmt.Errorf("next serial: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO dns_records (name, addr, serial, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET addr = excluded.addr, serial = excluded.serial, updated_at = excluded.updated_at`,
		name, value, serial, r.stamp()); err != nil {
		return 0, err
	}
	return uint64(serial), nil
}

// RecordsSince returns the records changed after serial, in serial order,
// at most limit of them, deleted ones included (with an invalid Addr).
func (r *DB) RecordsSince(ctx context.Context, serial uint64, limit int) ([]Record, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT name, addr, serial FROM dns_records WHERE serial > $1 ORDER BY serial LIMIT $2`,
		int64(serial), limit)
	if err != nil {
		return nil, fmt.Errorf("DNS records since %d: %w", serial, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var rec Record
		var addr string
		var s int64
		if err := rows.Scan(&rec.Name, &addr, &s); err != nil {
			return nil, fmt.Errorf("DNS records since %d: %w", serial, err)
		}
		rec.Serial = uint64(s)
		if addr != "" {
			if rec.Addr, err = netip.ParseAddr(addr); err != nil {
				return nil, fmt.Errorf("DNS record %s: address %q: %w", rec.Name, addr, err)
			}
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("DNS records since %d: %w", serial, err)
	}
	return out, nil
}

// Serial returns the zone serial: the serial of the latest record change.
func (r *DB) Serial(ctx context.Context) (uint64, error) {
	var s int64
	if err := r.db.QueryRowContext(ctx, `SELECT serial FROM dns_serial WHERE id = 1`).Scan(&s); err != nil {
		return 0, fmt.Errorf("zone serial: %w", err)
	}
	return uint64(s), nil
}

// Counts returns how many accounts, services, members (of the network
// directory), service members (of service directories) and DNS records the
// registry holds, keyed by those names.
func (r *DB) Counts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, q := range []struct{ name, sql string }{
		{"accounts", `SELECT COUNT(*) FROM accounts`},
		{"services", `SELECT COUNT(*) FROM services`},
		{"members", `SELECT COUNT(*) FROM members`},
		{"service_members", `SELECT COUNT(*) FROM service_members`},
		{"dns_records", `SELECT COUNT(*) FROM dns_records WHERE addr <> ''`},
	} {
		var n int64
		if err := r.db.QueryRowContext(ctx, q.sql).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", q.name, err)
		}
		out[q.name] = n
	}
	return out, nil
}

// errNoRows is what oneRow returns for a statement that changed nothing
// when the caller gave no error of its own.
var errNoRows = errors.New("no row changed")

// oneRow turns the result of a statement that should change one row into
// an error: err itself, or none when a row changed, or ifNone (errNoRows
// when nil) when none did.
func oneRow(res sql.Result, err error, ifNone error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		if ifNone == nil {
			return errNoRows
		}
		return ifNone
	}
	return nil
}
