package podruntime

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/internal/version"
)

// statusResponse is the body of GET /api/v1/status.
type statusResponse struct {
	Version       string          `json:"version"`
	Commit        string          `json:"commit"`
	AccountID     string          `json:"account_id"`
	Network       string          `json:"network"`
	StartedAt     time.Time       `json:"started_at"`
	UptimeSeconds float64         `json:"uptime_seconds"`
	Services      []serviceStatus `json:"services"`
	Storage       storageStatus   `json:"storage"`
}

type serviceStatus struct {
	ServiceID       uint32 `json:"service_id"`
	Name            string `json:"name"`
	ContractVersion int    `json:"contract_version"`
	MemberID        string `json:"member_id"`
	GraphQLPath     string `json:"graphql_path"`
	Records         int    `json:"records"`
	// ServiceURL and Conditions are set for a service joined through its
	// directory (ConditionContractUpToDate).
	ServiceURL string      `json:"service_url,omitempty"`
	Conditions []condition `json:"conditions,omitempty"`
}

type storageStatus struct {
	URL   string `json:"url"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func (p *Pod) handleStatus(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r, "GET")
	}
	now := p.now()
	info := version.Get()
	list := p.memberships()
	st := statusResponse{
		Version:       info.Version,
		Commit:        info.Commit,
		AccountID:     p.cfg.AccountID.String(),
		Network:       p.cfg.Network,
		StartedAt:     p.started.UTC(),
		UptimeSeconds: now.Sub(p.started).Seconds(),
		Services:      make([]serviceStatus, len(list)),
		Storage:       storageStatus{URL: p.storageURL},
	}
	for i, m := range list {
		st.Services[i] = serviceStatus{
			ServiceID:       m.sid,
			Name:            m.contract.Name,
			ContractVersion: m.contract.Version,
			MemberID:        m.memberID.String(),
			GraphQLPath:     m.path,
			Records:         m.store.Stats().Records,
		}
		st.Services[i].ServiceURL, st.Services[i].Conditions = p.serviceConditions(m.sid)
	}
	if err := p.probe.check(r.Context()); err != nil {
		st.Storage.Error = err.Error()
	} else {
		st.Storage.OK = true
	}
	return writeJSON(w, st)
}

// storageProbe checks that the object store answers, at most every
// probeInterval however often status is asked: reads of the pod's data
// never touch the object store, so status is what tells that writes would
// fail.
type storageProbe struct {
	objects objstore.Store
	now     func() time.Time

	mu   sync.Mutex
	at   time.Time
	last error
}

const (
	probeInterval = 5 * time.Second
	probeTimeout  = 3 * time.Second
	// probeKey is an object that never exists: reading it proves the store
	// answers without touching data.
	probeKey = "status-probe"
)

func (sp *storageProbe) check(ctx context.Context) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if now := sp.now(); !sp.at.IsZero() && now.Sub(sp.at) < probeInterval {
		return sp.last
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	_, err := sp.objects.Get(ctx, probeKey)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	sp.at, sp.last = sp.now(), err
	return err
}
