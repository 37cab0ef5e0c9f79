package devnet

import (
	"fmt"
	"io"
	"net"
	"strings"
)

// FamilyQuery is the demo's question to Suzie's pod: the addresses of her
// family, two hops deep, each with the member id of the pod it came from.
const FamilyQuery = `{ addresses_connection(depth: 2, relations: ["family"]) { edges { origin node { label street city country } } page_info { end_cursor has_next_page } } }`

// FeedQuery reads the posts Suzie's pod received from those she follows.
const FeedQuery = `{ feed_connection { edges { node { text origin_member_id created_timestamp } } } }`

// printBanner tells a person what runs and how to use it.
func printBanner(w io.Writer, dir string, st *State) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nbyoda local network %s is up (state in %s; delete it to start over)\n\n", st.Network, dir)
	fmt.Fprintf(&b, "  DNS server  %s (UDP and TCP), authoritative for %s\n", st.DNSServer, st.Network)
	fmt.Fprintf(&b, "  root CA     %s\n", st.RootCA)
	fmt.Fprintf(&b, "  service     addressbook-demo, service %d\n\n", st.ServiceID)
	for i := range st.Pods {
		p := &st.Pods[i]
		password, _ := readPassword(p.PasswordFile)
		fmt.Fprintf(&b, "  %-6s owner %s  (peer %s)\n", p.Name, p.OwnerURL, p.PeerAddress)
		fmt.Fprintf(&b, "         login  username %s  password %s\n", p.AccountID, password)
		fmt.Fprintf(&b, "         member %s\n", p.MemberID(st.ServiceID))
		fmt.Fprintf(&b, "         GraphiQL %s/api/v1/data/service-%d\n", p.OwnerURL, st.ServiceID)
	}
	fmt.Fprintf(&b, "\nA browser needs the pods' names in /etc/hosts (and the root CA trusted):\n\n")
	for _, p := range st.Pods {
		host, _, _ := net.SplitHostPort(strings.TrimPrefix(p.OwnerURL, "https://"))
		fmt.Fprintf(&b, "  %s %s\n", p.Address, host)
	}
	fmt.Fprintf(&b, "\nWhere does Suzie's family live? One query to Suzie's pod:\n\n")
	for _, line := range Commands(st, "suzie", FamilyQuery) {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	fmt.Fprintf(&b, "\nWhat did the people Suzie follows post? (Alice's pod delivered it to Suzie's feed)\n\n")
	cmds := Commands(st, "suzie", FeedQuery)
	fmt.Fprintf(&b, "  %s\n", cmds[len(cmds)-1])
	fmt.Fprintf(&b, "\ndevnet.json in %s describes the network for scripts. Ctrl-C stops it.\n\n", dir)
	_, _ = io.WriteString(w, b.String())
}

// Commands returns shell commands that log in to the named pod as its owner
// and run query there, with curl: the first sets TOKEN, the last runs the
// query. They resolve the pod's name with curl's --resolve, so they need
// nothing but curl and sed.
func Commands(st *State, name, query string) []string {
	var p *PodState
	for i := range st.Pods {
		if st.Pods[i].Name == name {
			p = &st.Pods[i]
		}
	}
	if p == nil {
		return nil
	}
	hostPort := strings.TrimPrefix(p.OwnerURL, "https://")
	curl := fmt.Sprintf("curl -s --cacert %s --resolve %s:%s", st.RootCA, hostPort, p.Address)
	password, _ := readPassword(p.PasswordFile)
	login := fmt.Sprintf(`{"username":"%s","password":"%s","service_id":%d}`, p.AccountID, password, st.ServiceID)
	body := fmt.Sprintf(`{"query":%s}`, jsonString(query))
	return []string{
		fmt.Sprintf(`TOKEN=$(%s -H 'Content-Type: application/json' -d '%s' %s/api/v1/pod/authtoken | sed -E 's/.*"auth_token":"([^"]+)".*/\1/')`,
			curl, login, p.OwnerURL),
		fmt.Sprintf(`%s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '%s' %s/api/v1/data/service-%d`,
			curl, shellQuoteSingle(body), p.OwnerURL, st.ServiceID),
	}
}
