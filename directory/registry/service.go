package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// ServiceMember is a member registered with a service directory.
type ServiceMember struct {
	ServiceID uint32
	ID        uuid.UUID
	// TLSChain is the PEM chain of the member's latest TLS certificate.
	TLSChain string
	// DataChain is the PEM chain of its member-data certificate, and
	// ContractVersion the contract version it runs, once it has published
	// them.
	DataChain       string
	ContractVersion int
	// Addr is the address it published from.
	Addr    netip.Addr
	Created time.Time
	Updated time.Time
}

// SearchEntry is one searchable value of a member: Value as given and
// Folded, its case-folded form, for case-insensitive searches.
type SearchEntry struct {
	Class  string
	Field  string
	Value  []byte
	Folded []byte
}

// SearchQuery asks for the members with a value of one field.
type SearchQuery struct {
	ServiceID uint32
	Class     string
	Field     string
	// Value is compared with the stored values, or with their folded form
	// when Folded is set (the caller folds Value the same way).
	Value  []byte
	Folded bool
	// Prefix matches the values that start with Value instead of equal
	// ones. An empty prefix matches nothing.
	Prefix bool
	// Limit bounds the member ids returned.
	Limit int
}

// CreateServiceMember registers member mid of service sid with the PEM
// chain of its first TLS certificate. It returns an error wrapping
// ErrExists when mid is taken.
func (r *DB) CreateServiceMember(ctx context.Context, sid uint32, mid uuid.UUID, tlsChain string) error {
	res, err := r.exec(ctx, `INSERT INTO service_members (service_id, member_id, tls_chain, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) ON CONFLICT (service_id, member_id) DO NOTHING`, int64(sid), mid.String(), tlsChain, r.stamp())
	if err := oneRow(res, err, ErrExists); err != nil {
		return fmt.Errorf("create member %s of service %d: %w", mid, sid, err)
	}
	return nil
}

// RenewServiceMember replaces the TLS certificate chain of member mid.
func (r *DB) RenewServiceMember(ctx context.Context, sid uint32, mid uuid.UUID, tlsChain string) error {
	res, err := r.exec(ctx, `UPDATE service_members SET tls_chain = $3, updated_at = $4
		WHERE service_id = $1 AND member_id = $2`, int64(sid), mid.String(), tlsChain, r.stamp())
	if err := oneRow(res, err, ErrNotFound); err != nil {
		return fmt.Errorf("renew member %s of service %d: %w", mid, sid, err)
	}
	return nil
}

// ServiceMember returns member mid of service sid.
func (r *DB) ServiceMember(ctx context.Context, sid uint32, mid uuid.UUID) (*ServiceMember, error) {
	m := &ServiceMember{ServiceID: sid, ID: mid}
	var addr string
	var created, updated int64
	err := r.db.QueryRowContext(ctx, `SELECT tls_chain, data_chain, contract_version, addr, created_at, updated_at
		FROM service_members WHERE service_id = $1 AND member_id = $2`, int64(sid), mid.String()).Scan(
		&m.TLSChain, &m.DataChain, &m.ContractVersion, &addr, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("member %s of service %d: %w", mid, sid, err)
	}
	if addr != "" {
		if m.Addr, err = netip.ParseAddr(addr); err != nil {
			return nil, fmt.Errorf("member %s of service %d: address %q: %w", mid, sid, addr, err)
		}
	}
	m.Created, m.Updated = fromMillis(created), fromMillis(updated)
	return m, nil
}

// SetMemberData records the member-data certificate chain of member mid,
// the contract version it runs and the address it published from.
func (r *DB) SetMemberData(ctx context.Context, sid uint32, mid uuid.UUID, dataChain string, version int, addr netip.Addr) error {
	a := ""
	if addr.IsValid() {
		a = addr.Unmap().String()
	}
	res, err := r.exec(ctx, `UPDATE service_members SET data_chain = $3, contract_version = $4, addr = $5,
		updated_at = $6 WHERE service_id = $1 AND member_id = $2`, int64(sid), mid.String(), dataChain, version, a, r.stamp())
	if err := oneRow(res, err, ErrNotFound); err != nil {
		return fmt.Errorf("set member-data certificate of member %s of service %d: %w", mid, sid, err)
	}
	return nil
}

// SetSearchValues replaces every searchable value of member mid of service
// sid with entries, in one transaction. The member must be registered.
func (r *DB) SetSearchValues(ctx context.Context, sid uint32, mid uuid.UUID, entries []SearchEntry) error {
	err := r.tx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM service_members WHERE service_id = $1 AND member_id = $2`,
			int64(sid), mid.String()).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM search_values WHERE service_id = $1 AND member_id = $2`,
			int64(sid), mid.String()); err != nil {
			return err
		}
		for _, e := range entries {
			if _, err := tx.ExecContext(ctx, `INSERT INTO search_values (service_id, member_id, class, field, value, folded)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
				int64(sid), mid.String(), e.Class, e.Field, e.Value, e.Folded); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set search values of member %s of service %d: %w", mid, sid, err)
	}
	return nil
}

// Search returns the ids of the members with a value that q matches,
// lowest first, at most q.Limit of them.
func (r *DB) Search(ctx context.Context, q SearchQuery) ([]uuid.UUID, error) {
	col := "value"
	if q.Folded {
		col = "folded"
	}
	var (
		rows *sql.Rows
		err  error
	)
	// The column name comes from the two constants above, never from the
	// query; the values are parameters.
	if q.Prefix {
		if len(q.Value) == 0 {
			return nil, nil
		}
		upper, bounded := successor(q.Value)
		if bounded {
			rows, err = r.db.QueryContext(ctx, `SELECT DISTINCT member_id FROM search_values WHERE service_id = $1
				AND class = $2 AND field = $3 AND `+col+` >= $4 AND `+col+` < $5 ORDER BY member_id LIMIT $6`,
				int64(q.ServiceID), q.Class, q.Field, q.Value, upper, q.Limit)
		} else {
			rows, err = r.db.QueryContext(ctx, `SELECT DISTINCT member_id FROM search_values WHERE service_id = $1
				AND class = $2 AND field = $3 AND `+col+` >= $4 ORDER BY member_id LIMIT $5`,
				int64(q.ServiceID), q.Class, q.Field, q.Value, q.Limit)
		}
	} else {
		rows, err = r.db.QueryContext(ctx, `SELECT DISTINCT member_id FROM search_values WHERE service_id = $1
			AND class = $2 AND field = $3 AND `+col+` = $4 ORDER BY member_id LIMIT $5`,
			int64(q.ServiceID), q.Class, q.Field, q.Value, q.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("search %s.%s of service %d: %w", q.Class, q.Field, q.ServiceID, err)
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("search %s.%s of service %d: %w", q.Class, q.Field, q.ServiceID, err)
		}
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("search %s.%s of service %d: member id %q: %w", q.Class, q.Field, q.ServiceID, s, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search %s.%s of service %d: %w", q.Class, q.Field, q.ServiceID, err)
	}
	return out, nil
}

// successor returns the smallest byte string greater than every string
// that starts with p, and false when there is none (p is all 0xff).
func successor(p []byte) ([]byte, bool) {
	s := append([]byte(nil), p...)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0xff {
			s[i]++
			return s[:i+1], true
		}
	}
	return nil, false
}

// CountServiceMembers returns how many members service sid has registered.
func (r *DB) CountServiceMembers(ctx context.Context, sid uint32) (int64, error) {
	var n int64
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM service_members WHERE service_id = $1`, int64(sid)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count members of service %d: %w", sid, err)
	}
	return n, nil
}
