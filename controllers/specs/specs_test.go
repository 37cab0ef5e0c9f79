package specs

import (
	"bytes"
	"crypto/x509"
	"flag"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/pki"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares the YAML of v with testdata/name.yaml.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := yaml.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %s: %v", name, err)
	}
	path := filepath.Join("testdata", name+".yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./controllers/specs -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run go test ./controllers/specs -update and review the diff):\n%s", name, path, got)
	}
}

var (
	aid = uuid.MustParse("6a3c1b0e-2f4d-4c55-9d1e-8b7a6f5e4d3c")
	mid = uuid.MustParse("0f1e2d3c-4b5a-4968-8776-655443322110")
)

func dataPod(mutate ...func(*byodav1alpha1.DataPod)) *byodav1alpha1.DataPod {
	dp := &byodav1alpha1.DataPod{
		ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: "people", UID: "11111111-1111-1111-1111-111111111111"},
		Spec: byodav1alpha1.DataPodSpec{
			Storage: byodav1alpha1.StorageSpec{S3: &byodav1alpha1.S3Storage{
				Bucket: "pods", Prefix: "alice", Endpoint: "https://s3.example.com", Region: "eu-west-1", PathStyle: true,
				CredentialsSecretRef: byodav1alpha1.LocalObjectReference{Name: "alice-s3"},
			}},
			DNS:          byodav1alpha1.DNSSpec{TTL: 120},
			RetainPolicy: byodav1alpha1.RetainPolicyRetain,
		},
	}
	for _, m := range mutate {
		m(dp)
	}
	return dp
}

func podInputs(dp *byodav1alpha1.DataPod) PodInputs {
	return PodInputs{
		DataPod:      dp,
		Account:      Account{ID: aid, Network: "byoda.test"},
		DefaultImage: "ghcr.io/byoda-go/byoda:v0.1.0",
		Members: []Member{{
			Membership: "alice-addressbook", ServiceID: 4711, MemberID: mid,
			KeySecret: "alice-addressbook-member-key", CertSecret: "alice-addressbook-member",
		}},
		ConfigHash: "0123456789abcdef01234567",
	}
}

func TestDeploymentGolden(t *testing.T) {
	golden(t, "deployment-s3", Deployment(podInputs(dataPod())))

	local := dataPod(func(dp *byodav1alpha1.DataPod) {
		dp.Spec.Storage = byodav1alpha1.StorageSpec{Local: &byodav1alpha1.LocalStorage{ClaimName: "alice-data"}}
		dp.Spec.Image = "registry.example.com/byoda:dev"
		dp.Spec.Owner.PasswordSecretRef = &byodav1alpha1.SecretKeyReference{Name: "alice-login", Key: "pw"}
		dp.Spec.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
		}
	})
	in := podInputs(local)
	in.Members = nil
	golden(t, "deployment-local-no-members", Deployment(in))
}

// TestPodArgs checks the launch contract from the operator's side: the
// arguments it builds parse, as `byoda pod` parses them, into the pod's
// configuration, and every file they name is inside a volume the
// Deployment mounts, where the volume puts it.
func TestPodArgs(t *testing.T) {
	in := podInputs(dataPod())
	args := PodArgs(in)
	if args[0] != "pod" {
		t.Fatalf("PodArgs()[0] = %q; want the pod subcommand", args[0])
	}
	got, err := launch.Parse(args[1:])
	if err != nil {
		t.Fatalf("the pod cannot parse the operator's arguments %q: %v", args, err)
	}
	want := launch.Pod{
		Network:           "byoda.test",
		PKIDir:            "/etc/byoda/pki",
		AccountID:         aid,
		DataDir:           "/var/lib/byoda",
		StorageURL:        "s3://pods/alice?endpoint=https%3A%2F%2Fs3.example.com&path_style=true&region=eu-west-1",
		KEKFile:           "/etc/byoda/key-encryption/key",
		Listen:            ":8443",
		PeerListen:        ":8444",
		OwnerPasswordFile: "/etc/byoda/owner/password",
		ContractFiles:     []string{"/etc/byoda/contracts/service-4711.json"},
		Members:           map[uint32]uuid.UUID{4711: mid},
		PeerPort:          444,
		LogLevel:          slog.LevelInfo,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed PodArgs:\n got %+v\nwant %+v", got, want)
	}

	// Each file is where a volume of the Deployment puts it.
	dep := Deployment(in)
	spec := dep.Spec.Template.Spec
	mounts := map[string]string{} // mount path -> volume
	for _, m := range spec.Containers[0].VolumeMounts {
		mounts[*m.MountPath] = *m.Name
	}
	volumeFiles := map[string][]string{} // volume -> files it projects
	for _, v := range spec.Volumes {
		var items []corev1ac.KeyToPathApplyConfiguration
		switch {
		case v.Secret != nil:
			items = v.Secret.Items
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				items = append(items, src.Secret.Items...)
			}
		}
		for _, it := range items {
			volumeFiles[*v.Name] = append(volumeFiles[*v.Name], *it.Path)
		}
	}
	for _, file := range []string{got.KEKFile, got.OwnerPasswordFile, got.ContractFiles[0]} {
		vol, ok := mounts[path.Dir(file)]
		if !ok || !slices.Contains(volumeFiles[vol], path.Base(file)) {
			t.Errorf("%s is not in a mounted volume (mounts %v, files %v)", file, mounts, volumeFiles)
		}
	}
	if mounts[got.PKIDir] == "" || mounts[got.DataDir] == "" {
		t.Errorf("the PKI directory %s or data directory %s is not mounted: %v", got.PKIDir, got.DataDir, mounts)
	}
	member := pki.Subject{Kind: pki.KindMember, Network: "byoda.test", ServiceID: 4711, ID: mid.String()}
	crt, key := pki.RelPaths(member)
	for _, f := range []string{pki.NetworkFile, crt, key} {
		if !slices.Contains(volumeFiles[mounts[got.PKIDir]], f) {
			t.Errorf("the PKI volume has no %s: %v", f, volumeFiles[mounts[got.PKIDir]])
		}
	}
}

func TestStorageLocation(t *testing.T) {
	for _, tc := range []struct {
		storage byodav1alpha1.StorageSpec
		want    string
	}{
		{byodav1alpha1.StorageSpec{Local: &byodav1alpha1.LocalStorage{}}, "file:///var/lib/byoda/storage"},
		{byodav1alpha1.StorageSpec{S3: &byodav1alpha1.S3Storage{Bucket: "b"}}, "s3://b"},
		{byodav1alpha1.StorageSpec{S3: &byodav1alpha1.S3Storage{Bucket: "b", Prefix: "p/q"}}, "s3://b/p/q"},
	} {
		dp := dataPod(func(dp *byodav1alpha1.DataPod) { dp.Spec.Storage = tc.storage })
		if got := StorageLocation(dp).URL(); got != tc.want {
			t.Errorf("StorageLocation(%+v).URL() = %q, want %q", tc.storage, got, tc.want)
		}
	}
}

func TestPodServiceGolden(t *testing.T) {
	golden(t, "service", PodService(dataPod(func(dp *byodav1alpha1.DataPod) {
		dp.Spec.Service.Annotations = map[string]string{"example.com/lb": "internal"}
	})))
}

func TestDNSEndpointsGolden(t *testing.T) {
	dp := dataPod()
	acct := Account{ID: aid, Network: "byoda.test"}
	golden(t, "dnsendpoint-account-ip", DataPodDNSEndpoint(dp, acct, "192.0.2.10"))
	golden(t, "dnsendpoint-account-host", DataPodDNSEndpoint(dp, acct, "lb.example.com."))
	m := membership()
	golden(t, "dnsendpoint-member", MemberDNSEndpoint(m, MemberIdentity{ID: mid, ServiceID: 4711, Network: "byoda.test"}, "2001:db8::1", 0))
}

func TestDNSRecordTypes(t *testing.T) {
	for _, tc := range []struct{ target, typ, out string }{
		{"192.0.2.1", "A", "192.0.2.1"},
		{"::ffff:192.0.2.1", "A", "192.0.2.1"},
		{"2001:db8::1", "AAAA", "2001:db8::1"},
		{"lb.example.com.", "CNAME", "lb.example.com"},
	} {
		ep := DNSRecord{Name: "x.byoda.test", Target: tc.target, TTL: 60}.Endpoint()
		if ep.RecordType != tc.typ || ep.Targets[0] != tc.out {
			t.Errorf("target %s: got %s %s, want %s %s", tc.target, ep.RecordType, ep.Targets[0], tc.typ, tc.out)
		}
	}
}

func membership() *byodav1alpha1.Membership {
	return &byodav1alpha1.Membership{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-addressbook", Namespace: "people", UID: "22222222-2222-2222-2222-222222222222"},
		Spec: byodav1alpha1.MembershipSpec{
			DataPodRef: byodav1alpha1.LocalObjectReference{Name: "alice"},
			Service:    byodav1alpha1.ServiceReference{Name: "addressbook", Namespace: "services"},
		},
	}
}

func service() *byodav1alpha1.Service {
	return &byodav1alpha1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "addressbook", Namespace: "services", UID: "33333333-3333-3333-3333-333333333333"},
		Spec:       byodav1alpha1.ServiceSpec{ServiceID: 4711},
	}
}

func TestSecretsGolden(t *testing.T) {
	dp := dataPod()
	acct := Account{ID: aid, Network: "byoda.test"}
	golden(t, "secret-account", AccountSecret(dp, acct, AccountCerts{
		TLS: []byte("TLS CHAIN"), Data: []byte("DATA CHAIN"), TLSRevision: 1, DataRevision: 2, RootCA: []byte("ROOT"),
	}))
	golden(t, "secret-account-key", AccountKeySecret(dp, acct, []byte("TLS KEY"), []byte("DATA KEY")))
	golden(t, "secret-member", MemberSecret(membership(), MemberIdentity{ID: mid, ServiceID: 4711, Network: "byoda.test"}, MemberCerts{
		TLS: []byte("TLS CHAIN"), Data: []byte("DATA CHAIN"), TLSRevision: 1, DataRevision: 1, Contract: []byte(`{"service_id": 4711}`), ContractVersion: 3,
	}))
	golden(t, "secret-member-key", MemberKeySecret(membership(), MemberIdentity{ID: mid, ServiceID: 4711, Network: "byoda.test"}, []byte("TLS KEY"), []byte("DATA KEY")))
}

func TestKEKSecretOwnership(t *testing.T) {
	if refs := KEKSecret(dataPod(), []byte("k")).OwnerReferences; len(refs) != 0 {
		t.Errorf("retained key-encryption Secret has owner references %v; want none, so that it outlives the DataPod", refs)
	}
	del := dataPod(func(dp *byodav1alpha1.DataPod) { dp.Spec.RetainPolicy = byodav1alpha1.RetainPolicyDelete })
	refs := KEKSecret(del, []byte("k")).OwnerReferences
	if len(refs) != 1 || refs[0].UID != del.UID {
		t.Errorf("key-encryption Secret under retainPolicy Delete has owner references %v; want the DataPod", refs)
	}
	if s := KEKSecret(del, []byte("k")); s.Immutable == nil || !*s.Immutable {
		t.Error("key-encryption Secret is not immutable")
	}
}

func TestCertificateRequestGolden(t *testing.T) {
	m := membership()
	golden(t, "certificaterequest-member", CertificateRequest(Request{
		Name: MemberRequestName(mid, false, 1), Namespace: "services",
		Labels: MemberRequestLabels(m, mid, 4711),
		Issuer: cmmeta.IssuerReference{Name: "addressbook-members-ca", Kind: cmv1.IssuerKind, Group: "cert-manager.io"},
		CSR:    []byte("CSR"),
	}))
	golden(t, "certificaterequest-account-data", CertificateRequest(Request{
		Name: AccountRequestName(dataPod(), true, 2), Namespace: "people",
		Labels: DataPodLabels(dataPod()), Owner: OwnerOf(dataPod(), KindDataPod),
		Issuer: IssuerRef(byodav1alpha1.IssuerReference{Name: "byoda-accounts-ca"}),
		CSR:    []byte("CSR"), Data: true,
	}))
}

func TestServiceChildrenGolden(t *testing.T) {
	in := ServiceInputs{Service: service(), Network: "byoda.test",
		ServicesIssuer: IssuerRef(byodav1alpha1.IssuerReference{Name: "byoda-services-ca"})}
	golden(t, "service-cas", CAs(in))
	golden(t, "service-issuers", Issuers(in))
	golden(t, "service-leaves", Leaves(in))
	golden(t, "service-contract", ContractConfigMap(service(), []byte(`{"service_id": 4711}`), 3))
}

// TestPermittedDomainsMatchPKI keeps the name constraints of the service CAs
// made by cert-manager in step with those internal/pki gives its own.
func TestPermittedDomainsMatchPKI(t *testing.T) {
	now := time.Now()
	root, err := pki.NewRootCA("byoda.test", now)
	if err != nil {
		t.Fatal(err)
	}
	servicesKP, err := root.Issue(pki.ServicesCAName("byoda.test"), now)
	if err != nil {
		t.Fatal(err)
	}
	services, err := pki.NewCA(servicesKP)
	if err != nil {
		t.Fatal(err)
	}
	serviceKP, err := services.Issue(pki.ServiceCAName(4711, "byoda.test"), now)
	if err != nil {
		t.Fatal(err)
	}
	serviceCA, err := pki.NewCA(serviceKP)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ca   CA
		cert func() (*x509.Certificate, error)
	}{
		{ServiceCA, func() (*x509.Certificate, error) { return serviceKP.Cert, nil }},
		{MembersCA, func() (*x509.Certificate, error) {
			kp, err := serviceCA.Issue(pki.MembersCAName(4711, "byoda.test"), now)
			return ptr.Deref(kp, pki.KeyPair{}).Cert, err
		}},
		{AppsCA, func() (*x509.Certificate, error) {
			kp, err := serviceCA.Issue(pki.AppsCAName(4711, "byoda.test"), now)
			return ptr.Deref(kp, pki.KeyPair{}).Cert, err
		}},
	} {
		cert, err := tc.cert()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := PermittedDomains(tc.ca, 4711, "byoda.test"), cert.PermittedDNSDomains; !slices.Equal(got, want) {
			t.Errorf("%s: PermittedDomains = %q, internal/pki has %q", tc.ca, got, want)
		}
	}
}

func TestRenewAt(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got, want := RenewAt(nb, nb.Add(300*time.Hour)), nb.Add(200*time.Hour); !got.Equal(want) {
		t.Errorf("RenewAt = %s, want %s", got, want)
	}
}

func directoryInputs(svc *byodav1alpha1.Service) DirectoryInputs {
	return DirectoryInputs{Service: svc, Network: "byoda.test", DefaultImage: "ghcr.io/byoda-go/byoda:v0.1.0", ConfigHash: "0123456789abcdef01234567"}
}

func TestDirectoryGolden(t *testing.T) {
	svc := service()
	golden(t, "directory-deployment", DirectoryDeployment(directoryInputs(svc)))
	golden(t, "directory-service", DirectoryService(svc))
	golden(t, "directory-dnsendpoint", DirectoryDNSEndpoint(svc, "byoda.test", "192.0.2.20"))
	golden(t, "directory-configmap", DirectoryConfigMap(svc, "byoda.test", []byte(`{"service_id": 4711}`), "abcdef"))

	pg := service()
	pg.Spec.Directory = byodav1alpha1.DirectorySpec{
		Image:     "registry.example.com/byoda:dev",
		Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
		Service:   byodav1alpha1.PodServiceSpec{Type: corev1.ServiceTypeClusterIP, Annotations: map[string]string{"example.com/lb": "internal"}},
		DNS:       byodav1alpha1.DNSSpec{Target: "dir.example.com", TTL: 60},
		Storage:   byodav1alpha1.DirectoryStorage{DatabaseSecretRef: &byodav1alpha1.SecretKeyReference{Name: "addressbook-db"}},
	}
	golden(t, "directory-deployment-postgres", DirectoryDeployment(directoryInputs(pg)))
	golden(t, "directory-service-clusterip", DirectoryService(pg))
	claim := service()
	claim.Spec.Directory.Storage.ClaimName = "addressbook-registry"
	dep := DirectoryDeployment(directoryInputs(claim))
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if *v.Name == "data" && (v.PersistentVolumeClaim == nil || *v.PersistentVolumeClaim.ClaimName != "addressbook-registry") {
			t.Errorf("data volume %+v; want the claim addressbook-registry", v)
		}
	}
}

// TestDirectoryArgs checks the launch contract of a service directory from
// the operator's side: the arguments parse, as `byoda service` parses
// them, into what the directory needs, and the volumes put there, from
// Secrets laid out as cert-manager writes them, a PKI directory that
// internal/pki opens as the directory does.
func TestDirectoryArgs(t *testing.T) {
	in := directoryInputs(service())
	args := DirectoryArgs(in)
	if args[0] != "service" {
		t.Fatalf("DirectoryArgs()[0] = %q; want the service subcommand", args[0])
	}
	got, err := launch.ParseServiceDirectory(args[1:])
	if err != nil {
		t.Fatalf("byoda service cannot parse the operator's arguments %q: %v", args, err)
	}
	want := launch.ServiceDirectory{
		PKIDir:       "/etc/byoda/pki",
		ServiceID:    4711,
		ContractFile: "/etc/byoda/service-contract/contract.json",
		DataDir:      "/var/lib/byoda",
		Listen:       ":8443",
		LogLevel:     slog.LevelInfo,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed DirectoryArgs:\n got %+v\nwant %+v", got, want)
	}

	// Secrets and the ConfigMap as they are in the cluster: cert-manager
	// puts the chain without the root in tls.crt and the root in ca.crt.
	now := time.Now()
	src := t.TempDir()
	d, err := pki.InitNetwork(src, "byoda.test", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateService(4711, now); err != nil {
		t.Fatal(err)
	}
	root, err := d.RootCertificate()
	if err != nil {
		t.Fatal(err)
	}
	svc := in.Service
	objects := map[string]map[string][]byte{
		DirectoryName(svc): {KeyNetworkJSON: pki.NetworkJSON("byoda.test"), KeyContract: []byte(`{}`)},
	}
	for name, s := range map[string]pki.Subject{
		CAName(svc, MembersCA): {Kind: pki.KindMembersCA, ServiceID: 4711, Network: "byoda.test"},
		ServiceTLSName(svc):    {Kind: pki.KindService, ServiceID: 4711, Network: "byoda.test"},
		ServiceDataName(svc):   {Kind: pki.KindServiceData, ServiceID: 4711, Network: "byoda.test"},
	} {
		kp, err := d.KeyPair(s)
		if err != nil {
			t.Fatal(err)
		}
		key, err := pki.EncodeKey(kp.Key)
		if err != nil {
			t.Fatal(err)
		}
		objects[name] = map[string][]byte{
			corev1.TLSCertKey: pki.EncodeCertificates(kp.Chain...), corev1.TLSPrivateKeyKey: key,
			cmmeta.TLSCAKey: pki.EncodeCertificates(root),
		}
	}
	mounted := t.TempDir()
	dep := DirectoryDeployment(in)
	spec := dep.Spec.Template.Spec
	mounts := map[string]string{}
	for _, m := range spec.Containers[0].VolumeMounts {
		mounts[*m.Name] = *m.MountPath
	}
	write := func(volume, object string, items []corev1ac.KeyToPathApplyConfiguration) {
		for _, it := range items {
			v, ok := objects[object][*it.Key]
			if !ok {
				t.Fatalf("volume %s: %s has no key %s", volume, object, *it.Key)
			}
			p := filepath.Join(mounted, filepath.FromSlash(path.Join(mounts[volume], *it.Path)))
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, v, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, v := range spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			write(*v.Name, *v.ConfigMap.Name, v.ConfigMap.Items)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					write(*v.Name, *s.Secret.Name, s.Secret.Items)
				} else {
					write(*v.Name, *s.ConfigMap.Name, s.ConfigMap.Items)
				}
			}
		}
	}
	at := func(p string) string { return filepath.Join(mounted, filepath.FromSlash(p)) }
	if _, err := os.Stat(at(got.ContractFile)); err != nil {
		t.Errorf("--contract: %v", err)
	}
	if mounts["data"] != got.DataDir {
		t.Errorf("--data-dir %s is not the data volume's mount %s", got.DataDir, mounts["data"])
	}
	// What service.Run loads from --pki-dir.
	md, err := pki.OpenDir(at(got.PKIDir))
	if err != nil {
		t.Fatalf("the mounted PKI directory: %v", err)
	}
	if _, err := md.RootCertificate(); err != nil {
		t.Error(err)
	}
	if _, err := md.CA(pki.Subject{Kind: pki.KindMembersCA, ServiceID: 4711, Network: "byoda.test"}); err != nil {
		t.Error(err)
	}
	if _, err := md.ServiceDataKey(4711); err != nil {
		t.Error(err)
	}
	if _, err := md.ServiceKey(4711); err != nil {
		t.Error(err)
	}
}
