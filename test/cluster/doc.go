// Package cluster gives end-to-end tests a real Kubernetes cluster: a
// one-node cluster it starts on this machine from parts, or one it is handed.
//
// # A node from parts
//
// kind needs Docker and a registry; neither is available here. Start builds
// the same test ground from the programs `make tools` builds (etcd and
// Kubernetes v1.36 from source), containerd, runc and the CNI plugins from
// Debian (`make node`), and images assembled from static binaries without
// Docker (`make images`, package image):
//
//   - a network namespace of its own (byoda-<id>), linked to the host by a veth
//     pair on a free /30 of 100.64.0.0/10; the node's end is its InternalIP
//     with a default route through the host's end (kube-apiserver refuses to
//     start without one). Pods reach the host's end (HostIP), masqueraded.
//   - a mount namespace of its own, a private copy of the host's: every mount
//     the node makes (pod volumes, container root file systems, pod network
//     namespaces) stays in it. In it, the kernel settings the kubelet insists
//     on are files with the values it wants, so it never changes the machine's,
//     and the host directories containerd and libcni write to regardless of
//     configuration are covered by the node's own.
//   - in both namespaces (entered with nsenter; `ip netns exec` would remount
//     /sys and hide the cgroup file systems): etcd, kube-apiserver (RBAC, the
//     ServiceAccount admission plugin, kubelet by InternalIP),
//     kube-controller-manager, kube-scheduler, containerd (own config, root,
//     state and socket; restrict_oom_score_adj), the kubelet (cgroupfs driver,
//     cgroup root /byoda-<id>) and kube-proxy (iptables mode), and CoreDNS as a
//     Deployment behind the kube-dns Service.
//   - what a cloud provider would give (kind has cloud-provider-kind and
//     local-path-provisioner for it), run by the test process for the node's
//     life: load balancers, which give Services of type LoadBalancer an
//     address of the node's pool (a /28 of 100.64.0.0/10 that the host routes
//     to the node; kube-proxy routes it on to the endpoints, so pods and this
//     machine reach the Service there), and a default StorageClass,
//     "standard" as kind's, whose claims get a hostPath volume in the node's
//     directory, removed with the claim.
//
// Stop deletes the pods so the kubelet tears their sandboxes down, stops every
// component by PID, kills whatever still carries the node's marks (its
// containerd socket, cgroup root or namespaces), removes the cgroup trees, and
// releases the namespaces and the node's directory. It never touches another
// process or a system service.
//
// Start needs root, cgroups and namespaces; without them it returns
// ErrUnsupported and ForTest skips.
//
// # A cluster handed over
//
// Tests take a *Cluster (a kubeconfig and an image loader), never a *Node:
// ForTest returns the cluster named by BYODA_E2E_KUBECONFIG when it is set
// (loading images with `kind load image-archive` into BYODA_E2E_KIND_CLUSTER),
// and starts a node otherwise. So the same test runs against kind on a machine
// with Docker.
//
// The cluster's own test (BYODA_CLUSTER=1, `make e2e-cluster`) starts a node,
// runs the byoda image, reaches a Service through kube-proxy and cluster DNS
// from a pod, and through a load balancer from this machine, mounts a
// provisioned volume, reads logs through kubectl, and checks that Stop left
// nothing. Cluster.HostIP is where pods reach servers of this machine
// (BYODA_E2E_HOST_IP for a cluster handed over); test/e2e/cluster runs
// byoda's end-to-end suite on either.
package cluster
