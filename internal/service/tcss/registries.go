package tcss

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// RegistryProber checks that vigil can reach a registry and that the
// credentials are accepted.
type RegistryProber interface {
	// Check connects with the plaintext password; the error says why not.
	Check(ctx context.Context, r store.Registry, password string) error
}

// RegistrySyncer enumerates a registry's repositories and tags into the
// store's image list.
type RegistrySyncer interface {
	Sync(ctx context.Context, accountID, registryID int64) (store.SyncResult, error)
}

// backgroundSyncer is a RegistrySyncer that can run a sync on its own
// (server) lifetime, so SyncAssetImageRegistryAsset returns at once
// (internal/registry.Syncer.Go). A syncer without it is run synchronously.
type backgroundSyncer interface {
	Go(accountID, registryID int64)
}

// classified is implemented by internal/registry's check errors: Class is
// one of BadURL, Unreachable, TLS, Unauthorized, NotRegistry.
type classified interface{ Class() string }

// registryTypes are the RegistryType values accepted: the documented ones
// and "other" for any other distribution registry.
var registryTypes = []string{"harbor", "quay", "jfrog", "aws", "azure", "other-tcr", "other"}

// registryPasswordAAD binds a password ciphertext to its registry. It must
// equal internal/registry.PasswordAAD (the syncer and the scanner decrypt
// with that); a test checks they agree.
func registryPasswordAAD(accountID int64, name string) []byte {
	return fmt.Appendf(nil, "registry:%d:%s", accountID, name)
}

func (h *handlers) registerRegistryActions(mux *server.Mux) {
	server.Handle(mux, Version, tcss.ActionAddAssetImageRegistryRegistryDetail, h.addRegistry)
	server.Handle(mux, Version, tcss.ActionUpdateAssetImageRegistryRegistryDetail, h.updateRegistry)
	server.Handle(mux, Version, tcss.ActionDescribeAssetImageRegistryRegistryList, h.describeRegistryList)
	server.Handle(mux, Version, tcss.ActionRemoveAssetImageRegistryRegistryDetail, h.removeRegistry)
	server.Handle(mux, Version, tcss.ActionSyncAssetImageRegistryAsset, h.syncRegistryAsset)
	server.Handle(mux, Version, tcss.ActionDescribeAssetImageRegistryList, h.describeRegistryImages)
}

func unsupported(what string) error {
	return api.NewError(api.UnsupportedOperation,
		fmt.Sprintf("This vigil server is not configured for %s.", what),
		fmt.Sprintf("当前 vigil 服务未配置%s。", what))
}

// registryFields are the members Add and Update share.
type registryFields struct {
	Name, Username, Password, URL, Type, NetType, Version, Region, InstanceID string
	SpeedLimit                                                                *int64
	Insecure, SyncMode                                                        *uint64
	NeedScan                                                                  *bool
	ConnDetect                                                                []*tcss.ConnDetectConfig
}

// apply validates f and writes it onto r (password excluded).
func (f registryFields) apply(r *store.Registry) error {
	name := strings.TrimSpace(f.Name)
	if name == "" || len(name) > 128 {
		return api.ErrInvalidParameterValue("Name", "must be 1 to 128 characters.", "长度须为 1～128 个字符。")
	}
	typ := strings.ToLower(strings.TrimSpace(f.Type))
	okType := false
	for _, t := range registryTypes {
		okType = okType || typ == t
	}
	if !okType {
		return api.ErrInvalidParameterValue("RegistryType",
			fmt.Sprintf("%q is not a registry type; use one of %s.", f.Type, strings.Join(registryTypes, ", ")),
			fmt.Sprintf("%q 不是合法的仓库类型，取值为 %s。", f.Type, strings.Join(registryTypes, "、")))
	}
	if err := checkURL(f.URL); err != nil {
		return err
	}
	insecure := false
	if f.Insecure != nil {
		switch *f.Insecure {
		case 0:
		case 1:
			insecure = true
		default:
			return api.ErrInvalidParameterValue("Insecure", "must be 0 or 1.", "取值须为 0 或 1。")
		}
	}
	syncMode := 0
	if f.SyncMode != nil {
		if *f.SyncMode > 1 {
			return api.ErrInvalidParameterValue("SyncMode", "must be 0 (full) or 1 (incremental).", "取值须为 0（全量）或 1（增量）。")
		}
		syncMode = int(*f.SyncMode)
	}
	if f.SpeedLimit != nil && *f.SpeedLimit < 0 {
		return api.ErrInvalidParameterValue("SpeedLimit", "must be >= 0.", "须大于等于 0。")
	}
	if strings.TrimSpace(f.NetType) == "" {
		return api.ErrInvalidParameterValue("NetType", "must not be empty (e.g. public).", "不能为空（如 public）。")
	}
	region := f.Region
	if region == "" {
		region = "default"
	}
	r.Name, r.Type, r.URL, r.Username = name, typ, strings.TrimSpace(f.URL), f.Username
	r.NetType, r.Version, r.Region, r.InstanceID = f.NetType, f.Version, region, f.InstanceID
	r.Insecure, r.SyncMode = insecure, syncMode
	if f.SpeedLimit != nil {
		r.SpeedLimit = *f.SpeedLimit
	}
	if f.NeedScan != nil {
		r.NeedScan = *f.NeedScan
	}
	if f.ConnDetect != nil {
		r.ConnDetectHosts = r.ConnDetectHosts[:0]
		for _, c := range f.ConnDetect {
			if c != nil && api.Value(c.Uuid) != "" {
				r.ConnDetectHosts = append(r.ConnDetectHosts, api.Value(c.Uuid))
			}
		}
	}
	return nil
}

// checkURL accepts "https://host[:port]", "http://host[:port]" or
// "host[:port]" (internal/registry.ParseEndpoint has the full rules and
// answers the rest as a failed health check).
func checkURL(raw string) error {
	s := strings.TrimSpace(raw)
	bad := func(why, whyZH string) error {
		return api.ErrInvalidParameterValue("Url", fmt.Sprintf("%q %s; use https://host[:port] or http://host[:port].", raw, why),
			fmt.Sprintf("%q %s，格式应为 https://host[:port] 或 http://host[:port]。", raw, whyZH))
	}
	if s == "" {
		return bad("is empty", "为空")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("does not parse", "无法解析")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("has a scheme other than http or https", "协议不是 http 或 https")
	}
	if u.Hostname() == "" {
		return bad("has no host", "缺少主机名")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return bad("carries credentials, a query or a fragment", "不能包含账号、查询串或片段")
	}
	if p := strings.Trim(u.Path, "/"); p != "" && p != "v2" {
		return bad("has a path", "不能包含路径")
	}
	return nil
}

// urlHost is the host[:port] of a registry URL, for image addresses.
func urlHost(raw string) string {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return strings.TrimSuffix(raw, "/")
}

// healthCheckMessage is the HealthCheckErr text of a failed Check.
func healthCheckMessage(lang api.Language, err error) string {
	var c classified
	zh := "无法连接仓库"
	if errors.As(err, &c) {
		switch c.Class() {
		case "BadURL":
			zh = "仓库地址无效"
		case "Unreachable":
			zh = "无法连接仓库"
		case "TLS":
			zh = "TLS 证书校验或握手失败"
		case "Unauthorized":
			zh = "仓库用户名或密码错误"
		case "NotRegistry":
			zh = "该地址不是镜像仓库（OCI Distribution）"
		}
	}
	return lang.Pick(err.Error(), zh+"："+err.Error())
}

func nameRepeatMessage(lang api.Language, name string) string {
	return lang.Pick(fmt.Sprintf("a registry named %q already exists", name), fmt.Sprintf("仓库名 %q 已存在", name))
}

// findByName returns the account's registry called name.
func (h *handlers) findByName(ctx context.Context, accountID int64, name string) (store.Registry, bool, error) {
	regs, err := h.Store.ListRegistries(ctx, accountID)
	if err != nil {
		return store.Registry{}, false, err
	}
	for _, r := range regs {
		if r.Name == name {
			return r, true, nil
		}
	}
	return store.Registry{}, false, nil
}

// startSync starts a sync of the registry; errors are the syncer's to record.
func (h *handlers) startSync(ctx context.Context, c *server.Call, id int64) {
	switch s := h.Syncer.(type) {
	case nil:
	case backgroundSyncer:
		s.Go(c.AccountID, id)
	default:
		if _, err := s.Sync(ctx, c.AccountID, id); err != nil && c.Logger != nil {
			c.Logger.WarnContext(ctx, "registry sync failed", "registry_id", id, "err", err)
		}
	}
}

// Add and Update answer a name clash and a failed connectivity check in
// NameRepeatErr and HealthCheckErr (as the official response documents),
// with RegistryId 0 and nothing saved.
func (h *handlers) addRegistry(ctx context.Context, c *server.Call, req *tcss.AddAssetImageRegistryRegistryDetailRequest) (*tcss.AddAssetImageRegistryRegistryDetailResponse, error) {
	if h.Registries == nil || h.Box == nil {
		return nil, unsupported("registries")
	}
	f := registryFields{
		Name: api.Value(req.Name), Username: api.Value(req.Username), Password: api.Value(req.Password), URL: api.Value(req.Url),
		Type: api.Value(req.RegistryType), NetType: api.Value(req.NetType), Version: api.Value(req.RegistryVersion),
		Region: api.Value(req.RegistryRegion), InstanceID: api.Value(req.InstanceId),
		SpeedLimit: req.SpeedLimit, Insecure: req.Insecure, SyncMode: req.SyncMode, NeedScan: req.NeedScan, ConnDetect: req.ConnDetectConfig,
	}
	r := store.Registry{AccountID: c.AccountID, WebhookURL: api.Value(req.WebhookUrl), WebhookToken: api.Value(req.WebhookToken)}
	if err := f.apply(&r); err != nil {
		return nil, err
	}
	resp := &tcss.AddAssetImageRegistryRegistryDetailResponse{HealthCheckErr: api.Ptr(""), NameRepeatErr: api.Ptr(""), RegistryId: api.Ptr(int64(0))}
	if _, taken, err := h.findByName(ctx, c.AccountID, r.Name); err != nil {
		return nil, err
	} else if taken {
		resp.NameRepeatErr = api.Ptr(nameRepeatMessage(c.Language, r.Name))
		return resp, nil
	}
	if err := h.Registries.Check(ctx, r, f.Password); err != nil {
		resp.HealthCheckErr = api.Ptr(healthCheckMessage(c.Language, err))
		return resp, nil
	}
	if f.Password != "" {
		enc, err := h.Box.Seal([]byte(f.Password), registryPasswordAAD(c.AccountID, r.Name))
		if err != nil {
			return nil, err
		}
		r.PasswordEnc = enc
	}
	created, err := h.Store.CreateRegistry(ctx, c.AccountID, r)
	if errors.Is(err, store.ErrConflict) { // created meanwhile
		resp.NameRepeatErr = api.Ptr(nameRepeatMessage(c.Language, r.Name))
		return resp, nil
	}
	if err != nil {
		return nil, svc.StoreError(err, "Name", r.Name)
	}
	resp.RegistryId = api.Ptr(created.ID)
	// A new registry's images appear without a separate sync call.
	h.startSync(ctx, c, created.ID)
	return resp, nil
}

func (h *handlers) updateRegistry(ctx context.Context, c *server.Call, req *tcss.UpdateAssetImageRegistryRegistryDetailRequest) (*tcss.UpdateAssetImageRegistryRegistryDetailResponse, error) {
	if h.Registries == nil || h.Box == nil {
		return nil, unsupported("registries")
	}
	f := registryFields{
		Name: api.Value(req.Name), Username: api.Value(req.Username), Password: api.Value(req.Password), URL: api.Value(req.Url),
		Type: api.Value(req.RegistryType), NetType: api.Value(req.NetType), Version: api.Value(req.RegistryVersion),
		Region: api.Value(req.RegistryRegion), InstanceID: api.Value(req.InstanceId),
		SpeedLimit: req.SpeedLimit, Insecure: req.Insecure, SyncMode: req.SyncMode, NeedScan: req.NeedScan, ConnDetect: req.ConnDetectConfig,
	}
	// RegistryId is optional in the spec: without it, Name names the registry.
	var old store.Registry
	if req.RegistryId != nil {
		var err error
		old, err = h.Store.GetRegistry(ctx, c.AccountID, *req.RegistryId)
		if err != nil {
			return nil, svc.StoreError(err, "RegistryId", fmt.Sprint(*req.RegistryId))
		}
	} else {
		r, ok, err := h.findByName(ctx, c.AccountID, strings.TrimSpace(f.Name))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, svc.StoreError(store.ErrNotFound, "Name", f.Name)
		}
		old = r
	}
	r := old
	if err := f.apply(&r); err != nil {
		return nil, err
	}
	resp := &tcss.UpdateAssetImageRegistryRegistryDetailResponse{HealthCheckErr: api.Ptr(""), NameRepeatErr: api.Ptr(""), RegistryId: api.Ptr(old.ID)}
	if r.Name != old.Name {
		if other, taken, err := h.findByName(ctx, c.AccountID, r.Name); err != nil {
			return nil, err
		} else if taken && other.ID != old.ID {
			resp.NameRepeatErr = api.Ptr(nameRepeatMessage(c.Language, r.Name))
			return resp, nil
		}
	}
	// An empty password keeps the stored one.
	password := f.Password
	if password == "" && len(old.PasswordEnc) > 0 {
		p, err := h.Box.Open(old.PasswordEnc, registryPasswordAAD(c.AccountID, old.Name))
		if err != nil {
			return nil, fmt.Errorf("registry %d: decrypt stored password: %w", old.ID, err)
		}
		password = string(p)
	}
	if err := h.Registries.Check(ctx, r, password); err != nil {
		resp.HealthCheckErr = api.Ptr(healthCheckMessage(c.Language, err))
		return resp, nil
	}
	r.PasswordEnc = nil
	if password != "" {
		enc, err := h.Box.Seal([]byte(password), registryPasswordAAD(c.AccountID, r.Name))
		if err != nil {
			return nil, err
		}
		r.PasswordEnc = enc
	}
	r.ConnectMsg = ""
	if _, err := h.Store.UpdateRegistry(ctx, c.AccountID, r); errors.Is(err, store.ErrConflict) {
		resp.NameRepeatErr = api.Ptr(nameRepeatMessage(c.Language, r.Name))
		return resp, nil
	} else if err != nil {
		return nil, svc.StoreError(err, "RegistryId", fmt.Sprint(old.ID))
	}
	return resp, nil
}

func (h *handlers) removeRegistry(ctx context.Context, c *server.Call, req *tcss.RemoveAssetImageRegistryRegistryDetailRequest) (*tcss.RemoveAssetImageRegistryRegistryDetailResponse, error) {
	id := api.Value(req.RegistryId)
	if err := h.Store.DeleteRegistry(ctx, c.AccountID, id); err != nil {
		return nil, svc.StoreError(err, "RegistryId", fmt.Sprint(id))
	}
	return &tcss.RemoveAssetImageRegistryRegistryDetailResponse{}, nil
}

func (h *handlers) syncRegistryAsset(ctx context.Context, c *server.Call, req *tcss.SyncAssetImageRegistryAssetRequest) (*tcss.SyncAssetImageRegistryAssetResponse, error) {
	if h.Syncer == nil {
		return nil, unsupported("registry synchronization")
	}
	var ids []int64
	switch {
	case api.Value(req.All):
		regs, err := h.Store.ListRegistries(ctx, c.AccountID)
		if err != nil {
			return nil, err
		}
		for _, r := range regs {
			ids = append(ids, r.ID)
		}
	case len(req.RegistryIds) > 0:
		if len(req.RegistryIds) > svc.MaxFilterValues {
			return nil, api.ErrInvalidParameterValue("RegistryIds", fmt.Sprintf("at most %d ids are allowed.", svc.MaxFilterValues), fmt.Sprintf("最多 %d 个。", svc.MaxFilterValues))
		}
		// Every id is checked before any sync starts.
		for i, p := range req.RegistryIds {
			param := fmt.Sprintf("RegistryIds.%d", i)
			if p == nil || *p == 0 || *p > 1<<62 {
				return nil, svc.StoreError(store.ErrNotFound, param, fmt.Sprint(api.Value(p)))
			}
			if _, err := h.Store.GetRegistry(ctx, c.AccountID, int64(*p)); err != nil {
				return nil, svc.StoreError(err, param, fmt.Sprint(*p))
			}
			ids = append(ids, int64(*p))
		}
	default:
		return nil, api.NewError(api.MissingParameter, "Give `All` true or the registries in `RegistryIds`.", "请指定 `All` 为 true 或在 `RegistryIds` 中给出仓库。")
	}
	for _, id := range ids {
		h.startSync(ctx, c, id)
	}
	return &tcss.SyncAssetImageRegistryAssetResponse{}, nil
}

// authorizedFilter reads IsAuthorized (all, 0, 1): vigil has no licence
// quota, every registry and image is authorized, so "0" alone selects
// nothing.
func authorizedFilter(fs map[string]svc.Filter) (none bool, err error) {
	f, ok := fs["IsAuthorized"]
	if !ok {
		return false, nil
	}
	none = true
	for i, v := range f.Values {
		switch v {
		case "all", "1":
			none = false
		case "0":
		default:
			return false, api.ErrInvalidParameterValue(f.ValueParam(i), fmt.Sprintf("%q: use all, 0 or 1.", v), fmt.Sprintf("%q：取值为 all、0 或 1。", v))
		}
	}
	return none, nil
}

func toFilters(in []*tcss.AssetFilters) []svc.Filter {
	out := make([]svc.Filter, 0, len(in))
	for _, f := range in {
		if f != nil {
			out = append(out, svc.Filter{Name: api.Value(f.Name), Values: svc.Strings(f.Values), Exact: api.Value(f.ExactMatch)})
		}
	}
	return out
}

// registryTime is LatestSyncTime's format in the official example
// ("2024-10-23 03:12:50"), in UTC.
func registryTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateTime)
}

func (h *handlers) describeRegistryList(ctx context.Context, c *server.Call, req *tcss.DescribeAssetImageRegistryRegistryListRequest) (*tcss.DescribeAssetImageRegistryRegistryListResponse, error) {
	limit, offset, err := svc.PagingU(req.Limit, req.Offset)
	if err != nil {
		return nil, err
	}
	fs, err := svc.Filters("Filters", toFilters(req.Filters), "Name", "Url", "RegistryType", "IsAuthorized")
	if err != nil {
		return nil, err
	}
	switch api.Value(req.By) {
	case "", "RegistryId", "Id":
	default:
		return nil, api.ErrInvalidParameterValue("By", fmt.Sprintf("%q: registries sort by RegistryId only.", api.Value(req.By)), fmt.Sprintf("%q：仅支持按 RegistryId 排序。", api.Value(req.By)))
	}
	desc, err := svc.Desc(req.Order)
	if err != nil {
		return nil, err
	}
	none, err := authorizedFilter(fs)
	if err != nil {
		return nil, err
	}
	resp := &tcss.DescribeAssetImageRegistryRegistryListResponse{TotalCount: api.Ptr(uint64(0)), List: []*tcss.ImageRepoRegistryInfo{}}
	if none {
		return resp, nil
	}
	q := store.RegistryQuery{Names: fs["Name"].Text(), URLs: fs["Url"].Text(), Desc: desc, Limit: limit, Offset: offset}
	if f, ok := fs["RegistryType"]; ok {
		q.Types = f.Values
	}
	page, err := h.Store.QueryRegistries(ctx, c.AccountID, q)
	if err != nil {
		return nil, svc.StoreError(err, "Filters", "")
	}
	resp.TotalCount = api.Ptr(uint64(max(page.Total, 0)))
	for _, r := range page.Items {
		status := "status_success"
		if r.ConnectMsg != "" {
			status = "status_failed"
		}
		resp.List = append(resp.List, &tcss.ImageRepoRegistryInfo{
			RegistryId:          api.Ptr(uint64(max(r.ID, 0))),
			Name:                api.Ptr(r.Name),
			RegistryType:        api.Ptr(r.Type),
			Url:                 api.Ptr(r.URL),
			NetType:             api.Ptr(r.NetType),
			RegistryRegion:      api.Ptr(r.Region),
			RegistryVersion:     api.Ptr(r.Version),
			ConnectMsg:          api.Ptr(r.ConnectMsg),
			ConnDetectType:      api.Ptr("backend"),
			ConnDetectHostCount: api.Ptr(uint64(1)),
			ConnDetectDetail: []*tcss.RegistryConnDetectResult{{
				Quuid: api.Ptr("backend"), Uuid: api.Ptr("backend"),
				ConnDetectStatus: api.Ptr(status), ConnDetectMessage: api.Ptr(r.ConnectMsg),
				FailReason: api.Ptr(r.ConnectMsg), Solution: api.Ptr(""),
			}},
			InstanceID:     api.Ptr(r.InstanceID),
			LatestSyncTime: api.Ptr(registryTime(r.LatestSyncTime)),
			SyncStatus:     api.Ptr(r.SyncStatus),
			SyncFailReason: api.Ptr(r.SyncFailReason),
			SyncSolution:   api.Ptr(""),
			SyncMessage:    api.Ptr(r.SyncFailReason),
			SyncMode:       api.Ptr(uint64(max(r.SyncMode, 0))),
		})
	}
	return resp, nil
}

// imageOrders maps DescribeAssetImageRegistryList's By to the store order.
var imageOrders = map[string]store.ImageOrder{
	"":                store.ImageOrderByID,
	"Id":              store.ImageOrderByID,
	"ImageName":       store.ImageOrderByName,
	"ImageTag":        store.ImageOrderByTag,
	"ImageSize":       store.ImageOrderBySize,
	"ScanTime":        store.ImageOrderByScanTime,
	"VirusCnt":        store.ImageOrderByVirusCount,
	"ImageCreateTime": store.ImageOrderByCreateTime,
}

func (h *handlers) describeRegistryImages(ctx context.Context, c *server.Call, req *tcss.DescribeAssetImageRegistryListRequest) (*tcss.DescribeAssetImageRegistryListResponse, error) {
	limit, offset, err := svc.PagingU(req.Limit, req.Offset)
	if err != nil {
		return nil, err
	}
	fs, err := svc.Filters("Filters", toFilters(req.Filters),
		"ImageName", "ImageTag", "InstanceName", "Namespace", "ScanStatus", "ImageDigest", "RegistryType", "RegistryId", "IsAuthorized", "HasVirus")
	if err != nil {
		return nil, err
	}
	order, ok := imageOrders[api.Value(req.By)]
	if !ok {
		return nil, api.ErrInvalidParameterValue("By", fmt.Sprintf("%q: sort by Id, ImageName, ImageTag, ImageSize, ScanTime, VirusCnt or ImageCreateTime.", api.Value(req.By)),
			fmt.Sprintf("%q：排序字段为 Id、ImageName、ImageTag、ImageSize、ScanTime、VirusCnt 或 ImageCreateTime。", api.Value(req.By)))
	}
	desc, err := svc.Desc(req.Order)
	if err != nil {
		return nil, err
	}
	none, err := authorizedFilter(fs)
	if err != nil {
		return nil, err
	}
	resp := &tcss.DescribeAssetImageRegistryListResponse{TotalCount: api.Ptr(uint64(0)), List: []*tcss.ImageRepoInfo{}}
	// vigil does not link registry images to running containers: every
	// image reports IsRunning false, so IsRunning true selects none.
	if none || api.Value(req.IsRunning) {
		return resp, nil
	}
	q := store.RegistryImageQuery{
		RegistryNames: fs["InstanceName"].Text(),
		Namespaces:    fs["Namespace"].Text(),
		Names:         fs["ImageName"].Text(),
		Tags:          fs["ImageTag"].Text(),
		Digests:       fs["ImageDigest"].Text(),
		OnlyLatest:    api.Value(req.OnlyShowLatest),
		OrderBy:       order,
		Desc:          desc,
		Limit:         limit,
		Offset:        offset,
	}
	if f, ok := fs["ScanStatus"]; ok {
		q.ScanStatuses = f.Values
	}
	if f, ok := fs["RegistryType"]; ok {
		q.RegistryTypes = f.Values
	}
	if f, ok := fs["RegistryId"]; ok {
		for i, v := range f.Values {
			id, err := svc.ParseInt(f.ValueParam(i), v)
			if err != nil {
				return nil, err
			}
			q.RegistryIDs = append(q.RegistryIDs, id)
		}
	}
	if f, ok := fs["HasVirus"]; ok {
		if len(f.Values) != 1 || (f.Values[0] != "true" && f.Values[0] != "false" && f.Values[0] != "1" && f.Values[0] != "0") {
			return nil, api.ErrInvalidParameterValue(f.Param+".Values", "give one value: true or false.", "取值为 true 或 false（仅一个）。")
		}
		q.HasVirus = api.Ptr(f.Values[0] == "true" || f.Values[0] == "1")
	}
	page, err := h.Store.QueryRegistryImages(ctx, c.AccountID, q)
	if err != nil {
		return nil, svc.StoreError(err, "Filters", "")
	}
	regs := map[int64]store.Registry{}
	if len(page.Items) > 0 {
		all, err := h.Store.ListRegistries(ctx, c.AccountID)
		if err != nil {
			return nil, err
		}
		for _, r := range all {
			regs[r.ID] = r
		}
	}
	resp.TotalCount = api.Ptr(uint64(max(page.Total, 0)))
	for _, img := range page.Items {
		r := regs[img.RegistryID]
		instance := img.RegistryName
		if instance == "" {
			instance = r.Name
		}
		repo := img.Name
		if img.Namespace != "" {
			repo = img.Namespace + "/" + img.Name
		}
		resp.List = append(resp.List, &tcss.ImageRepoInfo{
			Id:               api.Ptr(uint64(max(img.ID, 0))),
			ImageDigest:      api.Ptr(img.Digest),
			ImageRepoAddress: api.Ptr(urlHost(r.URL) + "/" + repo),
			RegistryType:     api.Ptr(r.Type),
			ImageName:        api.Ptr(img.Name),
			ImageTag:         api.Ptr(img.Tag),
			ImageSize:        api.Ptr(uint64(max(img.Size, 0))),
			ScanTime:         api.Ptr(svc.FormatRFC3339(img.ScanTime)),
			ScanStatus:       api.Ptr(img.ScanStatus),
			VirusStatus:      api.Ptr(img.ScanStatus),
			VirusCnt:         api.Ptr(uint64(max(img.VirusCount, 0))),
			OsName:           api.Ptr(img.OSName),
			ScanVirusError:   api.Ptr(img.ScanError),
			InstanceId:       api.Ptr(r.InstanceID),
			InstanceName:     api.Ptr(instance),
			Namespace:        api.Ptr(img.Namespace),
			RegistryRegion:   api.Ptr(r.Region),
			ImageId:          api.Ptr(img.ImageID),
			ImageCreateTime:  api.Ptr(svc.FormatRFC3339(img.ImageCreateTime)),
			IsLatestImage:    api.Ptr(img.IsLatest),
			IsAuthorized:     api.Ptr(uint64(1)),
			// Vulnerability, risk and sensitive-data scans are not vigil's:
			// their counts stay 0.
			VulCnt: api.Ptr(uint64(0)), RiskCnt: api.Ptr(uint64(0)), SentiveInfoCnt: api.Ptr(uint64(0)), SensitiveInfoCnt: api.Ptr(uint64(0)),
			IsTrustImage: api.Ptr(false), IsRunning: api.Ptr(false),
		})
	}
	return resp, nil
}
