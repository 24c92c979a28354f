// Package kubetest runs a real kube-apiserver, backed by a real etcd, on loopback for the
// integration tests of nodewatch's Kubernetes tracking: no mock, no fake clientset. The two
// binaries come from the repo's bin/ (`make bin/kube-apiserver bin/etcd`, which `make test`
// runs first; they are built from tools/kubeapiserver).
//
// Every Start is its own cluster: free loopback ports, a fresh etcd data directory and a fresh
// CA in t.TempDir(), and a static token file with three users fixed at Start (see Start).
// Authorization is RBAC only and anonymous requests are refused, so what a token may do is
// decided exactly as on a real cluster. No controller-manager runs: nothing garbage-collects,
// a deleted namespace stays Terminating, and no service-account token is minted by itself
// (ServiceAccountToken asks the TokenRequest API for one).
package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	// NodewatchUser is the user of Server.NodewatchToken: the name a pod running as the
	// nodewatch ServiceAccount of namespace nodewatch authenticates as.
	NodewatchUser = "system:serviceaccount:nodewatch:nodewatch"
	// NobodyUser is the user of Server.NobodyToken, bound to nothing: it has only what RBAC
	// gives every authenticated user (discovery, self reviews).
	NobodyUser = "kubetest:nobody"
	// AdminUser is the user of Server.AdminToken, in group system:masters.
	AdminUser = "admin"

	module       = "github.com/nodewatch/nodewatch"
	buildHint    = "run make bin/kube-apiserver bin/etcd (at the repo root), or set KUBETEST_BIN_DIR"
	readyTimeout = 60 * time.Second
	stopGrace    = 10 * time.Second
	logTailLines = 40
)

// NodewatchGroups are the groups of NodewatchUser, those Kubernetes gives a ServiceAccount.
var NodewatchGroups = []string{"system:serviceaccounts", "system:serviceaccounts:nodewatch", "system:authenticated"}

// Server is one running kube-apiserver and its etcd.
type Server struct {
	URL    string // https://127.0.0.1:PORT
	CAData []byte // PEM of the CA that signed the serving certificate

	AdminToken     string // user "admin", group system:masters
	NodewatchToken string // NodewatchUser in NodewatchGroups
	NobodyToken    string // NobodyUser: authenticated, authorized for nothing of note

	EtcdURL string // http://127.0.0.1:PORT
	Dir     string // the temporary directory: certificates, tokens, etcd data, logs

	binDir  string
	port    int
	apiArgs []string
	users   []tokenUser

	mu        sync.Mutex
	etcd      *proc
	apiserver *proc
	apiStarts int
}

// Option changes what Start starts.
type Option func(*options)

type options struct {
	users     []tokenUser
	extraArgs []string
}

// WithUser adds a user to the static token file; Server.Token(name) then gives its token.
func WithUser(name string, groups ...string) Option {
	return func(o *options) {
		o.users = append(o.users, tokenUser{token: newToken(), name: name, groups: slices.Clone(groups)})
	}
}

// WithAPIServerArgs appends flags to kube-apiserver's command line (for example
// "--feature-gates=..."); a flag given twice takes its last value.
func WithAPIServerArgs(args ...string) Option {
	return func(o *options) { o.extraArgs = append(o.extraArgs, args...) }
}

// Start starts etcd and kube-apiserver and waits until /readyz answers ok. It fails the test
// (it does not skip it) when the binaries are missing. Both processes stop in t.Cleanup; when
// the test has failed, the tails of their logs are printed then.
//
// The static tokens, fixed for the life of the Server (kube-apiserver reads the file once):
// AdminToken, NodewatchToken, NobodyToken, and one for each WithUser.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	binDir, err := findBinDir()
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if fi, err := os.Stat(filepath.Join(binDir, b)); err != nil || fi.IsDir() {
			t.Fatalf("kubetest: %s is missing: %s", filepath.Join(binDir, b), buildHint)
		}
	}

	// TempDir before Cleanup: cleanups run last-in first-out, so the processes stop before
	// their directory is removed.
	dir := t.TempDir()
	s := &Server{Dir: dir, binDir: binDir}
	t.Cleanup(func() { s.stopAll(t) })

	p, err := newPKI()
	if err != nil {
		t.Fatalf("kubetest: certificates: %v", err)
	}
	s.CAData = p.caPEM
	s.AdminToken, s.NodewatchToken, s.NobodyToken = newToken(), newToken(), newToken()
	s.users = append([]tokenUser{
		{token: s.AdminToken, name: AdminUser, groups: []string{"system:masters"}},
		{token: s.NodewatchToken, name: NodewatchUser, groups: slices.Clone(NodewatchGroups)},
		{token: s.NobodyToken, name: NobodyUser},
	}, o.users...)
	for i := range s.users {
		s.users[i].uid = "kubetest-uid-" + strconv.Itoa(i)
	}
	files := map[string][]byte{
		"ca.crt":      p.caPEM,
		"serving.crt": p.servingPEM,
		"serving.key": p.servingKeyPEM,
		"sa.key":      p.saKeyPEM,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatalf("kubetest: %v", err)
		}
	}
	if err := writeTokenFile(filepath.Join(dir, "tokens.csv"), s.users); err != nil {
		t.Fatalf("kubetest: %v", err)
	}

	// Free ports are found by listening on :0 and closing; another process may take one in
	// between, so a start that dies of "address already in use" is tried again on new ports.
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		ports, err := freePorts(3)
		if err != nil {
			t.Fatalf("kubetest: %v", err)
		}
		if lastErr = s.startEtcd(ports[0], ports[1], attempt); lastErr != nil {
			if s.etcd != nil && portClash(s.etcd) {
				s.etcd.stop(stopGrace)
				s.etcd = nil
				continue
			}
			t.Fatalf("kubetest: etcd: %v%s", lastErr, s.tails())
		}
		s.port = ports[2]
		s.URL = "https://127.0.0.1:" + strconv.Itoa(s.port)
		s.apiArgs = append(s.apiServerArgs(), o.extraArgs...)
		if lastErr = s.startAPIServer(); lastErr != nil {
			if s.apiserver != nil && portClash(s.apiserver) {
				s.stopAll(nil)
				continue
			}
			t.Fatalf("kubetest: kube-apiserver: %v%s", lastErr, s.tails())
		}
		return s
	}
	t.Fatalf("kubetest: no free ports after 3 tries: %v%s", lastErr, s.tails())
	return nil
}

func (s *Server) apiServerArgs() []string {
	d := func(name string) string { return filepath.Join(s.Dir, name) }
	return []string{
		"--etcd-servers=" + s.EtcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.port),
		"--cert-dir=" + d("apiserver-certs"), // unused with the files below, but not /var/run
		"--tls-cert-file=" + d("serving.crt"),
		"--tls-private-key-file=" + d("serving.key"),
		"--token-auth-file=" + d("tokens.csv"),
		"--anonymous-auth=false",
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + d("sa.key"),
		"--service-account-signing-key-file=" + d("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		// The "kubernetes" Service's endpoints would be 127.0.0.1, which validation refuses
		// (loopback), logged every 10 s: leave that Service without endpoints.
		"--endpoint-reconciler-type=none",
		// ServiceAccount would refuse pods until a controller makes the "default" account;
		// TaintNodesByCondition would add a not-ready taint to every Node created.
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
		"--profiling=false",
	}
}

func (s *Server) startEtcd(clientPort, peerPort, attempt int) error {
	s.EtcdURL = "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	dataDir := filepath.Join(s.Dir, "etcd-data")
	if err := os.RemoveAll(dataDir); err != nil { // a try that clashed on a port may have left one
		return err
	}
	args := []string{
		"--name=kubetest",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + s.EtcdURL,
		"--advertise-client-urls=" + s.EtcdURL,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=kubetest=" + peer,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync", // a test cluster: durability across a machine crash is not wanted
		"--log-level=warn",
	}
	p, err := startProc("etcd", filepath.Join(s.binDir, "etcd"), args, filepath.Join(s.Dir, "etcd.log"), attempt > 1)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.etcd = p
	s.mu.Unlock()
	client := &http.Client{Timeout: 2 * time.Second}
	return waitFor(p, 30*time.Second, func() error {
		resp, err := client.Get(s.EtcdURL + "/health")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"true"`)) {
			return fmt.Errorf("/health: %d %s", resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil
	})
}

func (s *Server) startAPIServer() error {
	s.apiStarts++
	p, err := startProc("kube-apiserver", filepath.Join(s.binDir, "kube-apiserver"), s.apiArgs,
		filepath.Join(s.Dir, "kube-apiserver.log"), s.apiStarts > 1)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.apiserver = p
	s.mu.Unlock()
	return s.waitReady(p)
}

// waitReady polls /readyz with the admin token until it answers 200 "ok".
func (s *Server) waitReady(p *proc) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAData) {
		return errors.New("bad CA PEM")
	}
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
	}
	return waitFor(p, readyTimeout, func() error {
		req, err := http.NewRequest(http.MethodGet, s.URL+"/readyz", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+s.AdminToken)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %d %s", resp.StatusCode, lastLines(body, 5))
		}
		return nil
	})
}

// StopAPIServer stops kube-apiserver only (SIGTERM, then SIGKILL after 10 s); etcd and its
// data stay, and StartAPIServer brings the same cluster back. Stopping a stopped one does nothing.
func (s *Server) StopAPIServer(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	p := s.apiserver
	s.apiserver = nil
	s.mu.Unlock()
	if p != nil {
		p.stop(stopGrace)
	}
}

// StartAPIServer starts kube-apiserver again, on the same port, with the same etcd, CA and
// tokens, and waits for /readyz. Clients and kubeconfigs made before still work.
func (s *Server) StartAPIServer(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	running := s.apiserver != nil
	s.mu.Unlock()
	if running {
		t.Fatalf("kubetest: StartAPIServer: kube-apiserver is already running")
	}
	if err := s.startAPIServer(); err != nil {
		t.Fatalf("kubetest: kube-apiserver restart on port %d: %v%s", s.port, err, s.tails())
	}
}

func (s *Server) stopAll(t testing.TB) {
	s.mu.Lock()
	api, etcd := s.apiserver, s.etcd
	s.apiserver, s.etcd = nil, nil
	s.mu.Unlock()
	if t != nil && t.Failed() {
		t.Logf("kubetest: the test failed; logs of its cluster:%s", s.tails())
	}
	if api != nil {
		api.stop(stopGrace)
	}
	if etcd != nil {
		etcd.stop(stopGrace)
	}
}

// RESTConfig is a client configuration for this server authenticating with token.
func (s *Server) RESTConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            s.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: slices.Clone(s.CAData)},
	}
}

// Admin is a clientset authenticating with AdminToken (system:masters).
func (s *Server) Admin(t testing.TB) kubernetes.Interface {
	t.Helper()
	return s.Client(t, s.AdminToken)
}

// Client is a clientset authenticating with token.
func (s *Server) Client(t testing.TB, token string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(s.RESTConfig(token))
	if err != nil {
		t.Fatalf("kubetest: clientset: %v", err)
	}
	return cs
}

// Token is the static token of user, one of AdminUser, NodewatchUser, NobodyUser or a WithUser
// of Start. With groups, the user must also have exactly those groups (in any order). Tokens
// are fixed at Start: an unknown user panics, naming the ones there are.
func (s *Server) Token(user string, groups ...string) string {
	var names []string
	for _, u := range s.users {
		if u.name == user && (len(groups) == 0 || sameSet(u.groups, groups)) {
			return u.token
		}
		names = append(names, fmt.Sprintf("%s %v", u.name, u.groups))
	}
	panic(fmt.Sprintf("kubetest: no token for user %q groups %v (tokens are fixed at Start; add one with kubetest.WithUser); there are: %s",
		user, groups, strings.Join(names, "; ")))
}

// ServiceAccountToken asks the TokenRequest API, as admin, for a real service-account token
// (a JWT signed with the server's service-account key, valid one hour) of the ServiceAccount
// namespace/name, which must exist. It authenticates as system:serviceaccount:NAMESPACE:NAME,
// exactly as the token mounted into a pod would.
func (s *Server) ServiceAccountToken(t testing.TB, namespace, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exp := int64(3600)
	tr, err := s.Admin(t).CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: token for serviceaccount %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// Kubeconfig writes a kubeconfig at path with a cluster clusterName (URL and CA of s), a user
// of the same name as the context holding token, and a context contextName joining them. A file
// already there is kept and added to, so several servers (or several users of one) can share
// one kubeconfig; current-context is set to contextName unless the file already had one.
func (s *Server) Kubeconfig(t testing.TB, path, contextName, clusterName, token string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	if _, err := os.Stat(path); err == nil {
		if cfg, err = clientcmd.LoadFromFile(path); err != nil {
			t.Fatalf("kubetest: kubeconfig %s: %v", path, err)
		}
	}
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: slices.Clone(s.CAData)}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: contextName}
	if cfg.CurrentContext == "" {
		cfg.CurrentContext = contextName
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("kubetest: kubeconfig %s: %v", path, err)
	}
}

// tails is the last lines of both logs, for a failure message.
func (s *Server) tails() string {
	var b strings.Builder
	for _, name := range []string{"etcd.log", "kube-apiserver.log"} {
		data, err := os.ReadFile(filepath.Join(s.Dir, name))
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", name, lastLines(data, logTailLines))
	}
	return b.String()
}

// findBinDir is $KUBETEST_BIN_DIR, or the bin/ beside the go.mod of nodewatch found by walking
// up from the working directory (go test runs a package's tests in its directory).
func findBinDir() (string, error) {
	if d := os.Getenv("KUBETEST_BIN_DIR"); d != "" {
		return filepath.Abs(d)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" && strings.Trim(fields[1], `"`) == module {
					f.Close()
					return filepath.Join(dir, "bin"), nil
				}
			}
			f.Close()
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory: %s", module, buildHint)
		}
		dir = parent
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func lastLines(data []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// proc is one child process, its stdout and stderr appended to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFrom int64 // the log's size when this process started
	done    chan struct{}
	err     error // set before done closes
}

func startProc(name, bin string, args []string, logPath string, restart bool) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if restart {
		fmt.Fprintf(f, "\n===== kubetest: %s started again at %s =====\n", name, time.Now().Format(time.RFC3339Nano))
	}
	from, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, logFrom: from, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after grace, and waits for the process to be gone.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitFor calls check every 100 ms until it succeeds, the process exits, or timeout passes.
func waitFor(p *proc, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		}
		if last = check(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v", p.name, timeout, last)
		}
		select {
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// portClash tells whether an exited process died because its port was taken.
func portClash(p *proc) bool {
	if !p.exited() {
		return false
	}
	data, err := os.ReadFile(p.logPath)
	return err == nil && int64(len(data)) >= p.logFrom && bytes.Contains(data[p.logFrom:], []byte("address already in use"))
}
