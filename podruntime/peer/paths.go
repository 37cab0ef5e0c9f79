package peer

import "strconv"

// DefaultPort is the peer port of a network that names no other.
const DefaultPort = 444

// DataPath is the path of service sid's GraphQL API, on both ports of a
// pod.
func DataPath(sid uint32) string {
	return "/api/v1/data/service-" + strconv.FormatUint(uint64(sid), 10)
}

// DataCertPath is where a pod serves, on its peer port, the chain (PEM,
// leaf first) of its member-data certificate of service sid, with which
// it signs recursive queries.
func DataCertPath(sid uint32) string {
	return "/api/v1/data-cert/service-" + strconv.FormatUint(uint64(sid), 10)
}
