// Package kubernetes watches which node images a team's clusters run, through client-go:
// a shared informer per cluster whose transform keeps only what a pool's answer needs.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/nodefile"
)

// Cluster is one cluster to read: through a kubeconfig and context, or, with InCluster,
// the cluster nodewatch runs in by its service account.
type Cluster struct {
	Name       string
	Kubeconfig string // "" with a context: $KUBECONFIG, then ~/.kube/config
	Context    string // "": the kubeconfig's current context
	InCluster  bool
}

// RESTConfig builds the client configuration of a cluster. Its errors name the cluster
// and the cause, never a token: clientcmd's errors name files and contexts only.
func (c Cluster) RESTConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if c.InCluster {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster %s: not running in a cluster (%v); name clusters with a kubeconfig under kubernetes.clusters", c.Name, err)
		}
	} else {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if c.Kubeconfig != "" {
			rules.ExplicitPath = c.Kubeconfig
		}
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.Context})
		cfg, err = cc.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %s", c.Name, describeConfigError(c, err))
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "nodewatch"
	// Protobuf is the API server's own encoding: a list of thousands of Nodes decodes
	// in a fraction of JSON's time and garbage.
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.Timeout = 30 * time.Second
	return cfg, nil
}

func describeConfigError(c Cluster, err error) string {
	where := c.Kubeconfig
	if where == "" {
		where = "the default kubeconfig ($KUBECONFIG or ~/.kube/config)"
	}
	switch {
	case clientcmd.IsEmptyConfig(err):
		return fmt.Sprintf("kubeconfig %s is missing or empty", where)
	case c.Context != "" && strings.Contains(err.Error(), "context"):
		return fmt.Sprintf("kubeconfig %s has no context %q (%v)", where, c.Context, err)
	}
	return fmt.Sprintf("kubeconfig %s: %v", where, err)
}

// keptLabels are the labels a pool's answer reads; the transform drops the others.
var keptLabels = append([]string{nodefile.LabelNodeImageVersion, "kubernetes.io/arch"}, nodefile.PoolLabels...)

// TrimNode is the informer's transform: it keeps of a Node only its name, resource
// version, the labels nodewatch reads and three fields of nodeInfo, and drops managed
// fields, images, conditions, annotations and the rest, which are most of a Node's bytes.
func TrimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil // a tombstone (DeletedFinalStateUnknown) passes as it is
	}
	labels := make(map[string]string, len(keptLabels))
	for _, l := range keptLabels {
		if v, ok := n.Labels[l]; ok {
			labels[l] = v
		}
	}
	i := n.Status.NodeInfo
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion, Labels: labels},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{
			OSImage: i.OSImage, KernelVersion: i.KernelVersion, Architecture: i.Architecture,
		}},
	}, nil
}

// Watcher watches the Nodes of each cluster with a shared informer of its own. A cluster
// that cannot be read (no kubeconfig, refused token, API server down) is reported as
// such and retried by the informer with backoff; the others carry on.
type Watcher struct {
	log      *slog.Logger
	clusters []*clusterWatch
	// OnChange is called after a node is added, changed or deleted (not on resyncs).
	OnChange func(cluster string)
}

type clusterWatch struct {
	Cluster
	client   rest.Interface
	informer cache.SharedIndexInformer

	mu  sync.Mutex
	err string
}

// NewWatcher prepares a watch of each cluster; a cluster whose configuration cannot be
// built is reported as failed, not returned as an error.
func NewWatcher(clusters []Cluster, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{log: log}
	for _, c := range clusters {
		cw := &clusterWatch{Cluster: c}
		w.clusters = append(w.clusters, cw)
		client, err := nodesClient(c)
		if err != nil {
			cw.err = err.Error()
			log.Error("kubernetes cluster cannot be read", "cluster", c.Name, "err", err)
			continue
		}
		cw.client = client
		// No resync: nothing here is reconciled, and a resync would only repeat events.
		lw := cache.NewListWatchFromClient(client, "nodes", metav1.NamespaceAll, fields.Everything())
		cw.informer = cache.NewSharedIndexInformerWithOptions(lw, &corev1.Node{}, cache.SharedIndexInformerOptions{})
		_ = cw.informer.SetTransform(TrimNode)
		_ = cw.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			cw.setErr(describeAPIError(c.Name, err))
			log.Warn("kubernetes watch failed; retrying with backoff", "cluster", c.Name, "err", cw.error())
		})
		_, _ = cw.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { cw.setErr(""); w.changed(c.Name) },
			UpdateFunc: func(old, cur any) { w.updated(c.Name, old, cur) },
			DeleteFunc: func(any) { w.changed(c.Name) },
		})
	}
	return w
}

func (w *Watcher) changed(cluster string) {
	if w.OnChange != nil {
		w.OnChange(cluster)
	}
}

// updated passes on an update only when what nodewatch keeps changed: a node's status
// is updated every few seconds by its kubelet, which the transform reduces to nothing.
func (w *Watcher) updated(cluster string, old, cur any) {
	o, ok1 := old.(*corev1.Node)
	c, ok2 := cur.(*corev1.Node)
	if ok1 && ok2 && nodeOf(o) == nodeOf(c) {
		return
	}
	w.changed(cluster)
}

func (cw *clusterWatch) setErr(s string) {
	cw.mu.Lock()
	cw.err = s
	cw.mu.Unlock()
}

func (cw *clusterWatch) error() string {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return cw.err
}

// Run starts every informer and returns when ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, cw := range w.clusters {
		if cw.informer != nil {
			wg.Add(1)
			go func() { defer wg.Done(); cw.informer.RunWithContext(ctx) }()
		}
	}
	wg.Wait()
}

// States implements tracker.ClusterSource: what each cluster's watch knows now, in the
// order the clusters were given.
func (w *Watcher) States() []tracker.ClusterNodes {
	out := make([]tracker.ClusterNodes, 0, len(w.clusters))
	for _, cw := range w.clusters {
		s := tracker.ClusterNodes{Cluster: cw.Name, Err: cw.error(), Nodes: []tracker.Node{}}
		if cw.informer != nil {
			s.Synced = cw.informer.HasSynced()
			for _, obj := range cw.informer.GetStore().List() {
				if n, ok := obj.(*corev1.Node); ok {
					s.Nodes = append(s.Nodes, nodeOf(n))
				}
			}
		}
		slices.SortFunc(s.Nodes, func(a, b tracker.Node) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, s)
	}
	return out
}

// Clusters are the clusters' names, in order.
func (w *Watcher) Clusters() []string {
	out := make([]string, len(w.clusters))
	for i, cw := range w.clusters {
		out[i] = cw.Name
	}
	return out
}

// Probe asks each cluster for one node, the cheapest request its role allows, so that a
// cycle reports a cluster that cannot be read now: the watch retries on its own, but
// says nothing once it has given its error. It returns one report per cluster.
func (w *Watcher) Probe(ctx context.Context) []tracker.SourceReport {
	out := make([]tracker.SourceReport, len(w.clusters))
	var wg sync.WaitGroup
	for i, cw := range w.clusters {
		out[i].Source = "kubernetes:" + cw.Name
		if cw.client == nil {
			out[i].Errors = []string{cw.error()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			out[i].Requests = 1
			if _, err := listNodes(ctx, cw.client, metav1.ListOptions{Limit: 1}); err != nil {
				out[i].FailedRequests = 1
				msg := describeAPIError(cw.Name, err)
				cw.setErr(msg)
				out[i].Errors = []string{msg}
				return
			}
			cw.setErr("")
		}()
	}
	wg.Wait()
	return out
}

// ListOnce lists the nodes of a cluster once, without a watch: what `nodes` does when no
// daemon runs.
func ListOnce(ctx context.Context, c Cluster) ([]tracker.Node, error) {
	client, err := nodesClient(c)
	if err != nil {
		return nil, err
	}
	var nodes []tracker.Node
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := listNodes(ctx, client, opts)
		if err != nil {
			return nil, errors.New(describeAPIError(c.Name, err))
		}
		for i := range list.Items {
			nodes = append(nodes, nodeOf(&list.Items[i]))
		}
		if list.Continue == "" {
			return nodes, nil
		}
		opts.Continue = list.Continue
	}
}

// scheme knows Nodes and nothing else: client-go's clientset registers every API group,
// which took the binary from 25 MB to 44 MB; nodewatch reads one resource. Built on first
// use, so that commands that read no cluster do not pay for it.
var scheme = sync.OnceValue(func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		panic(err)
	}
	metav1.AddToGroupVersion(s, corev1.SchemeGroupVersion)
	return s
})

// nodesClient is a REST client of the core API group, which is where Nodes are.
func nodesClient(c Cluster) (rest.Interface, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.APIPath = "/api"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme()).WithoutConversion()
	client, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %v", c.Name, err)
	}
	return client, nil
}

func listNodes(ctx context.Context, client rest.Interface, opts metav1.ListOptions) (*corev1.NodeList, error) {
	list := &corev1.NodeList{}
	err := client.Get().Resource("nodes").VersionedParams(&opts, metav1.ParameterCodec).Do(ctx).Into(list)
	return list, err
}

func nodeOf(n *corev1.Node) tracker.Node {
	i := n.Status.NodeInfo
	return nodefile.NodeOf(n.Name, n.Labels, i.OSImage, i.KernelVersion, i.Architecture)
}

// describeAPIError says why a cluster's API server refused or did not answer, naming
// the cluster. client-go's errors carry the URL and status, never the bearer token.
func describeAPIError(cluster string, err error) string {
	switch {
	case apierrors.IsUnauthorized(err):
		return fmt.Sprintf("cluster %s: the API server refused the credentials (401 Unauthorized): the token is wrong or expired", cluster)
	case apierrors.IsForbidden(err):
		return fmt.Sprintf("cluster %s: not allowed to list nodes (403 Forbidden): bind the role of deploy/kubernetes/rbac.yaml (get, list, watch on nodes): %v", cluster, err)
	}
	return fmt.Sprintf("cluster %s: %v", cluster, err)
}
