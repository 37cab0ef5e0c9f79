package podruntime

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/launch"
)

// ConditionContractUpToDate is the type of the condition, per service in
// GET /api/v1/status, that says whether the pod serves the newest contract
// the service directory publishes; its reasons are the reason constants
// below.
const ConditionContractUpToDate = "ContractUpToDate"

// Reasons of ConditionContractUpToDate.
const (
	// reasonUpToDate: the pod serves the directory's version.
	reasonUpToDate = "UpToDate"
	// reasonUpgraded: the pod took up a newer version without a restart.
	reasonUpgraded = "Upgraded"
	// reasonUpgradeRefused: the newer version changes or removes what the
	// served one defines; the pod keeps serving the older version.
	reasonUpgradeRefused = "UpgradeRefused"
	// reasonUpgradeAvailable: the newer version only adds, and the pod
	// does not upgrade by itself (no --auto-upgrade).
	reasonUpgradeAvailable = "UpgradeAvailable"
	// reasonUpgradeFailed: taking up the newer version failed; the pod
	// serves the older one and tries again.
	reasonUpgradeFailed = "UpgradeFailed"
	// reasonContractUnverified: what the directory serves does not verify.
	reasonContractUnverified = "ContractUnverified"
)

// condition is a status condition, as Kubernetes writes them.
type condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"` // "True" or "False"
	Reason             string    `json:"reason"`
	Message            string    `json:"message"`
	LastTransitionTime time.Time `json:"last_transition_time"`
}

// contractStatus is how the contract of a service joined through its
// directory fares.
type contractStatus struct {
	cond condition
	// seen is the digest of the contract last fetched: the same bytes are
	// not checked again.
	seen [sha256.Size]byte
	// failing is set while the directory does not answer, so that the
	// failure is logged once.
	failing bool
}

// setCondition sets the ConditionContractUpToDate of service sid; the
// transition time changes with the status or the reason. It reports
// whether the condition changed, for the caller to log a change once.
func (p *Pod) setCondition(sid uint32, ok bool, reason, msg string) bool {
	p.joins.statusMu.Lock()
	defer p.joins.statusMu.Unlock()
	cs := p.joins.status[sid]
	if cs == nil {
		cs = &contractStatus{}
		p.joins.status[sid] = cs
	}
	status := "False"
	if ok {
		status = "True"
	}
	changed := cs.cond.Status != status || cs.cond.Reason != reason || cs.cond.Message != msg
	if cs.cond.Status != status || cs.cond.Reason != reason {
		cs.cond.LastTransitionTime = p.now().UTC().Truncate(time.Second)
	}
	cs.cond.Type, cs.cond.Status, cs.cond.Reason, cs.cond.Message = ConditionContractUpToDate, status, reason, msg
	return changed
}

// serviceConditions returns the directory URL and the conditions of
// service sid, for status; none for a service joined from --contract.
func (p *Pod) serviceConditions(sid uint32) (string, []condition) {
	p.joins.statusMu.Lock()
	defer p.joins.statusMu.Unlock()
	js, ok := p.joins.services[sid]
	if !ok {
		return "", nil
	}
	var conds []condition
	if cs := p.joins.status[sid]; cs != nil {
		conds = append(conds, cs.cond)
	}
	return js.ServiceURL, conds
}

// watchContract asks the directory of m's service for its contract, and
// publishes m's searchable values there (search.go), at once and then
// every --contract-poll-interval, until ctx ends (the pod stops, or m is
// retired by an upgrade, whose membership watches on).
func (p *Pod) watchContract(ctx context.Context, m *membership) {
	if _, ok := p.joinedService(m.sid); !ok {
		return
	}
	interval := p.cfg.ContractPollInterval
	if interval <= 0 {
		interval = launch.DefaultContractPollInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var search searchPush
	for {
		if err := p.checkContract(ctx, m.sid, false); err != nil && ctx.Err() == nil {
			p.log.Debug("Contract check failed", "service", m.sid, "err", err)
		}
		if js, ok := p.joinedService(m.sid); ok {
			p.pushSearchValues(ctx, m, js.ServiceURL, &search)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkContract fetches the contract of service sid from its directory
// and, when it is a newer version that verifies and only adds
// (contract.CheckUpgrade), takes it up without a restart if the pod
// upgrades by itself (--auto-upgrade) or force is set. A version that
// changes or removes is refused: the pod logs why once and keeps serving
// its version, and the status says so.
func (p *Pod) checkContract(ctx context.Context, sid uint32, force bool) error {
	js, ok := p.joinedService(sid)
	m := p.membership(sid)
	if !ok || m == nil {
		return nil
	}
	sc, err := p.serviceClient(js.ServiceURL, nil)
	if err != nil {
		return err
	}
	defer sc.Close()
	raw, err := sc.ServiceContract(ctx)
	if err != nil {
		if ctx.Err() == nil && p.markFailing(sid, true) {
			p.log.Warn("Service directory did not answer; will ask again", "service", sid, "directory", js.ServiceURL, "err", err)
		}
		return directoryError("service %d at %s: the contract: %w", sid, js.ServiceURL, err)
	}
	if p.markFailing(sid, false) {
		p.log.Info("Service directory answers again", "service", sid, "directory", js.ServiceURL)
	}
	digest := sha256.Sum256(raw)
	if !force && p.seenContract(sid, digest) {
		return nil
	}
	c, err := contract.Verify(raw, p.verifier.Roots, p.cfg.Network, p.now())
	if err == nil && c.ServiceID != sid {
		err = fmt.Errorf("it is the contract of service %d", c.ServiceID)
	}
	if err != nil {
		msg := fmt.Sprintf("the contract the directory %s serves does not verify: %v; serving version %d", js.ServiceURL, err, m.contract.Version)
		if p.setCondition(sid, false, reasonContractUnverified, msg) {
			p.log.Error("Refused a contract that does not verify", "service", sid, "directory", js.ServiceURL, "err", err)
		}
		return directoryError("%s", msg)
	}
	if c.Version <= m.contract.Version {
		p.setCondition(sid, true, reasonUpToDate, fmt.Sprintf("serving version %d of the contract", m.contract.Version))
		return nil
	}
	if err := contract.CheckUpgrade(m.contract, c); err != nil {
		msg := fmt.Sprintf("version %d changes or removes what version %d defines, so the pod keeps serving version %d: %v",
			c.Version, m.contract.Version, m.contract.Version, oneLine(err))
		if p.setCondition(sid, false, reasonUpgradeRefused, msg) {
			p.log.Error("Refused a contract upgrade that changes or removes", "service", sid, "from", m.contract.Version,
				"to", c.Version, "serving", m.contract.Version, "changes", oneLine(err))
		}
		return &joinError{status: http.StatusConflict, code: codeConflict, err: errors.New(msg)}
	}
	if !p.cfg.AutoUpgrade && !force {
		msg := fmt.Sprintf("version %d only adds to version %d: start the pod with --auto-upgrade to take up such versions "+
			"by itself, or join the service again (POST /api/v1/pod/join)", c.Version, m.contract.Version)
		if p.setCondition(sid, false, reasonUpgradeAvailable, msg) {
			p.log.Info("A newer contract only adds; not upgrading without --auto-upgrade", "service", sid, "from", m.contract.Version, "to", c.Version)
		}
		return nil
	}
	return p.upgrade(ctx, sid, c, raw)
}

// seenContract reports whether the contract with digest was checked last,
// and remembers digest otherwise.
func (p *Pod) seenContract(sid uint32, digest [sha256.Size]byte) bool {
	p.joins.statusMu.Lock()
	defer p.joins.statusMu.Unlock()
	cs := p.joins.status[sid]
	if cs == nil {
		cs = &contractStatus{}
		p.joins.status[sid] = cs
	}
	if cs.seen == digest {
		return true
	}
	cs.seen = digest
	return false
}

// forgetContract has the next check of service sid look at the contract
// even when it is the one checked last.
func (p *Pod) forgetContract(sid uint32) {
	p.joins.statusMu.Lock()
	defer p.joins.statusMu.Unlock()
	if cs := p.joins.status[sid]; cs != nil {
		cs.seen = [sha256.Size]byte{}
	}
}

// markFailing records whether the directory of sid fails to answer and
// reports whether that changed.
func (p *Pod) markFailing(sid uint32, failing bool) bool {
	p.joins.statusMu.Lock()
	defer p.joins.statusMu.Unlock()
	cs := p.joins.status[sid]
	if cs == nil {
		cs = &contractStatus{}
		p.joins.status[sid] = cs
	}
	changed := cs.failing != failing
	cs.failing = failing
	return changed
}

// upgrade takes up contract c of service sid, which only adds to the
// version served: it ends the membership's websockets and background
// work, closes its store (writes fail with UNAVAILABLE meanwhile; reads go
// on), opens it again with c, and serves the API of c in place of the old
// one. The store holds one writer at a time, so it is closed before it
// opens again; when it does not open with c, it opens again with the old
// contract.
func (p *Pod) upgrade(ctx context.Context, sid uint32, c *contract.Contract, raw []byte) error {
	p.joins.mu.Lock()
	defer p.joins.mu.Unlock()
	old := p.membership(sid)
	if p.joins.closed || old == nil || c.Version <= old.contract.Version {
		return nil
	}
	// Another upgrade may have come first: check against what is served.
	if err := contract.CheckUpgrade(old.contract, c); err != nil {
		return err
	}
	js, _ := p.joinedService(sid)
	where := fmt.Sprintf("service %d (joined at %s)", sid, js.ServiceURL)
	// Work that has begun ends even when the poll that started it does
	// (the old membership retires below).
	ctx = context.WithoutCancel(ctx)
	// The old membership's background work (following other pods) and
	// websockets end before its store closes; requests go on to it until
	// the new one is published.
	old.end()
	if err := old.store.Close(); err != nil {
		p.log.Warn("Closing the store for an upgrade failed", "service", sid, "err", err)
	}
	m, err := p.newMembership(ctx, c, old.memberID, where)
	if err != nil {
		msg := fmt.Sprintf("taking up version %d failed: %v; serving version %d", c.Version, err, old.contract.Version)
		p.setCondition(sid, false, reasonUpgradeFailed, msg)
		p.log.Error("Contract upgrade failed; serving the earlier version", "service", sid, "to", c.Version, "err", err)
		p.forgetContract(sid) // try again at the next poll
		again, rerr := p.newMembership(ctx, old.contract, old.memberID, where)
		if rerr != nil {
			p.log.Error("Could not open the store again with the earlier contract; writes to the service fail until the pod restarts",
				"service", sid, "err", rerr)
			return err
		}
		p.publish(again)
		old.retire()
		return err
	}
	if err := keepContract(p.cfg.DataDir, sid, raw); err != nil {
		// The next start serves the older version and upgrades again.
		p.log.Warn("Could not keep the upgraded contract", "service", sid, "err", err)
	}
	p.publish(m)
	old.retire()
	p.setCondition(sid, true, reasonUpgraded, fmt.Sprintf("serving version %d of the contract, taken up without a restart (from version %d)", c.Version, old.contract.Version))
	p.log.Info("Upgraded the contract without a restart", "service", sid, "from", old.contract.Version, "to", c.Version)
	// The service directory learns which version the member serves.
	pctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := p.publishMemberData(pctx, m, js.ServiceURL); err != nil {
		p.log.Warn("Could not tell the service directory the contract version served", "service", sid, "version", c.Version, "err", err)
	}
	return nil
}

// publishMemberData publishes m's member-data certificate at its service
// directory for the version of m's contract.
func (p *Pod) publishMemberData(ctx context.Context, m *membership, serviceURL string) error {
	mc, err := p.serviceClient(serviceURL, &m.cert)
	if err != nil {
		return err
	}
	defer mc.Close()
	dataKP, err := p.dir.MemberDataKey(m.sid, m.memberID)
	if err != nil {
		return err
	}
	_, err = mc.PublishMemberData(ctx, m.contract.Version, dataKP.Chain, p.publicAddress())
	return err
}

// oneLine joins the lines of an error's message with "; ".
func oneLine(err error) string {
	var errs contract.Errors
	if errors.As(err, &errs) {
		s := ""
		for i, e := range errs {
			if i > 0 {
				s += "; "
			}
			s += e.Error()
		}
		return s
	}
	return err.Error()
}
