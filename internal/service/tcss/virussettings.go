package tcss

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// The auto-isolation settings and samples, and the trojan whitelist.

// autoIsolateKey is the account setting of ModifyVirusAutoIsolateSetting.
const autoIsolateKey = "tcss.virus_auto_isolate"

// AutoIsolateSetting is an account's automatic isolation setting.
type AutoIsolateSetting struct {
	AutoIsolateSwitch         bool
	IsKillProgress            bool
	UserAutoIsolateKillSwitch bool
}

// LoadAutoIsolateSetting returns the account's setting (all off when never set).
func LoadAutoIsolateSetting(ctx context.Context, st store.Store, accountID int64) (AutoIsolateSetting, error) {
	var s AutoIsolateSetting
	b, err := st.GetAccountSetting(ctx, accountID, autoIsolateKey)
	if errors.Is(err, store.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("tcss: setting %s: %w", autoIsolateKey, err)
	}
	return s, nil
}

// AutoIsolateDecision is for the ingest path and the agents' policy: whether
// a new trojan file with md5 is to be isolated automatically, and whether
// its processes are to be killed. A per-MD5 sample (ModifyVirusFileStatus
// AutoIsolate) decides for its MD5, on or off; otherwise the account's
// switch does.
func AutoIsolateDecision(ctx context.Context, st store.Store, accountID int64, md5 string) (isolate, kill bool, err error) {
	set, err := LoadAutoIsolateSetting(ctx, st, accountID)
	if err != nil {
		return false, false, err
	}
	isolate = set.AutoIsolateSwitch
	if m := strings.ToLower(md5); store.IsMD5(m) {
		s, err := st.GetAutoIsolateSample(ctx, accountID, m)
		switch {
		case err == nil:
			isolate = s.AutoIsolate
		case !errors.Is(err, store.ErrNotFound):
			return false, false, err
		}
	}
	return isolate, isolate && set.IsKillProgress, nil
}

func (h *handlers) modifyVirusAutoIsolateSetting(ctx context.Context, c *server.Call, req *tcss.ModifyVirusAutoIsolateSettingRequest) (*tcss.ModifyVirusAutoIsolateSettingResponse, error) {
	if req.AutoIsolateSwitch == nil {
		return nil, api.ErrMissingParameter("AutoIsolateSwitch")
	}
	if req.IsKillProgress == nil {
		return nil, api.ErrMissingParameter("IsKillProgress")
	}
	cur, err := LoadAutoIsolateSetting(ctx, h.Store, c.AccountID)
	if err != nil {
		return nil, err
	}
	cur.AutoIsolateSwitch, cur.IsKillProgress = *req.AutoIsolateSwitch, *req.IsKillProgress
	if req.UserAutoIsolateKillSwitch != nil {
		cur.UserAutoIsolateKillSwitch = *req.UserAutoIsolateKillSwitch
	}
	b, _ := json.Marshal(cur)
	if err := h.Store.PutAccountSetting(ctx, c.AccountID, autoIsolateKey, b); err != nil {
		return nil, err
	}
	return &tcss.ModifyVirusAutoIsolateSettingResponse{}, nil
}

func (h *handlers) describeVirusAutoIsolateSetting(ctx context.Context, c *server.Call, _ *tcss.DescribeVirusAutoIsolateSettingRequest) (*tcss.DescribeVirusAutoIsolateSettingResponse, error) {
	s, err := LoadAutoIsolateSetting(ctx, h.Store, c.AccountID)
	if err != nil {
		return nil, err
	}
	return &tcss.DescribeVirusAutoIsolateSettingResponse{
		AutoIsolateSwitch: api.Ptr(s.AutoIsolateSwitch), IsKillProgress: api.Ptr(s.IsKillProgress),
		UserAutoIsolateKillSwitch: api.Ptr(s.UserAutoIsolateKillSwitch),
	}, nil
}

func (h *handlers) describeVirusAutoIsolateSampleList(ctx context.Context, c *server.Call, req *tcss.DescribeVirusAutoIsolateSampleListRequest) (*tcss.DescribeVirusAutoIsolateSampleListResponse, error) {
	limit, offset, err := svc.PagingU(req.Limit, req.Offset)
	if err != nil {
		return nil, err
	}
	q := store.AutoIsolateSampleQuery{Limit: limit, Offset: offset}
	if q.Desc, err = svc.Desc(req.Order); err != nil {
		return nil, err
	}
	switch api.Value(req.By) {
	case "", "ModifyTime":
	case "MD5":
		q.ByMD5 = true
	default:
		return nil, api.ErrInvalidParameterValue("By", fmt.Sprintf("%q is not ModifyTime or MD5.", api.Value(req.By)), fmt.Sprintf("%q 不是 ModifyTime 或 MD5。", api.Value(req.By)))
	}
	fs, err := svc.Filters("Filters", runtimeFilters(req.Filters), "MD5", "AutoIsolateSwitch", "VirusName")
	if err != nil {
		return nil, err
	}
	q.MD5s, q.VirusNames = fs["MD5"].Text(), fs["VirusName"].Text()
	if f, ok := fs["AutoIsolateSwitch"]; ok {
		var on, off bool
		for i, v := range f.Values {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true", "1":
				on = true
			case "false", "0":
				off = true
			default:
				return nil, api.ErrInvalidParameterValue(f.ValueParam(i), fmt.Sprintf("%q is not true or false.", v), fmt.Sprintf("%q 不是 true 或 false。", v))
			}
		}
		if on != off {
			q.AutoIsolate = &on
		}
	}
	page, err := h.Store.QueryAutoIsolateSamples(ctx, c.AccountID, q)
	if err != nil {
		return nil, svc.StoreError(err, "Filters", "")
	}
	resp := &tcss.DescribeVirusAutoIsolateSampleListResponse{TotalCount: api.Ptr(uint64(max(page.Total, 0))), List: make([]*tcss.VirusAutoIsolateSampleInfo, 0, len(page.Items))}
	for _, s := range page.Items {
		resp.List = append(resp.List, &tcss.VirusAutoIsolateSampleInfo{
			MD5: api.Ptr(s.MD5), VirusName: api.Ptr(s.VirusName), ModifyTime: api.Ptr(svc.FormatRFC3339(s.ModifyTime)), AutoIsolateSwitch: api.Ptr(s.AutoIsolate),
		})
	}
	return resp, nil
}

// Whitelist limits (AddOrModifyVirusWhiteListRule's documentation).
const (
	maxWhitelistImages = 1000
	maxWhitelistRemark = 256
)

func (h *handlers) addOrModifyVirusWhiteListRule(ctx context.Context, c *server.Call, req *tcss.AddOrModifyVirusWhiteListRuleRequest) (*tcss.AddOrModifyVirusWhiteListRuleResponse, error) {
	r := store.WhitelistRule{Product: store.WhitelistTCSS, Mode: store.WhitelistModeMD5}
	if len(req.Md5List) > store.MaxWhitelistValues {
		return nil, api.ErrInvalidParameterValue("Md5List", fmt.Sprintf("at most %d values.", store.MaxWhitelistValues), fmt.Sprintf("最多 %d 个取值。", store.MaxWhitelistValues))
	}
	for i, p := range req.Md5List {
		m := strings.ToLower(strings.TrimSpace(api.Value(p)))
		if !store.IsMD5(m) {
			return nil, api.ErrInvalidParameterValue(fmt.Sprintf("Md5List.%d", i), "is not an MD5 (32 hex digits).", "不是 MD5（32 位十六进制）。")
		}
		r.MD5s = append(r.MD5s, m)
	}
	switch {
	case req.Scope == nil:
		return nil, api.ErrMissingParameter("Scope")
	case *req.Scope == 1:
		r.IsGlobal = true
	case *req.Scope == 0:
		if len(req.ImageIds) == 0 {
			return nil, api.ErrMissingParameter("ImageIds")
		}
		if len(req.ImageIds) > maxWhitelistImages {
			return nil, api.ErrInvalidParameterValue("ImageIds", fmt.Sprintf("at most %d images.", maxWhitelistImages), fmt.Sprintf("最多 %d 个镜像。", maxWhitelistImages))
		}
		for i, p := range req.ImageIds {
			v := strings.TrimSpace(api.Value(p))
			if v == "" || len(v) > store.MaxWhitelistText {
				return nil, api.ErrInvalidParameterValue(fmt.Sprintf("ImageIds.%d", i), "must be an image id.", "须为镜像 ID。")
			}
			r.ImageIDs = append(r.ImageIDs, v)
		}
	default:
		return nil, api.ErrInvalidParameterValue("Scope", fmt.Sprintf("must be 1 (all images) or 0 (chosen images), got %d.", *req.Scope),
			fmt.Sprintf("取值须为 1（全部镜像）或 0（自选镜像），实际为 %d。", *req.Scope))
	}
	if req.Remark != nil {
		if utf8.RuneCountInString(*req.Remark) > maxWhitelistRemark {
			return nil, api.ErrInvalidParameterValue("Remark", fmt.Sprintf("at most %d characters.", maxWhitelistRemark), fmt.Sprintf("最多 %d 个字符。", maxWhitelistRemark))
		}
		r.Remark = *req.Remark
	}
	var source *store.VirusEvent
	if req.EventId != nil {
		e, err := h.Store.GetVirusEvent(ctx, c.AccountID, int64(min(*req.EventId, 1<<62)))
		if err != nil {
			return nil, svc.StoreError(err, "EventId", fmt.Sprint(*req.EventId))
		}
		m := strings.ToLower(e.FileMD5)
		if !store.IsMD5(m) {
			return nil, api.ErrInvalidParameterValue("EventId", "the event's file has no MD5.", "该事件的文件没有 MD5。")
		}
		if !slices.Contains(r.MD5s, m) {
			r.MD5s = append(r.MD5s, m)
		}
		source = &e
	}
	if len(r.MD5s) == 0 {
		return nil, api.ErrMissingParameter("Md5List")
	}
	var err error
	if req.Id != nil {
		if *req.Id == 0 || *req.Id > 1<<62 {
			return nil, svc.StoreError(store.ErrNotFound, "Id", fmt.Sprint(*req.Id))
		}
		r.ID = int64(*req.Id)
		_, err = h.Store.UpdateWhitelistRule(ctx, c.AccountID, r)
		if err != nil {
			return nil, svc.StoreError(err, "Id", fmt.Sprint(*req.Id))
		}
	} else if r, err = h.Store.CreateWhitelistRule(ctx, c.AccountID, r); err != nil {
		return nil, svc.StoreError(err, "Md5List", "")
	}
	if source != nil && source.Status != dealAddWhitelist {
		n, err := h.Store.UpdateVirusEvents(ctx, c.AccountID, []int64{source.ID}, store.VirusEventUpdate{FromStatuses: fileAtRest,
			Status: api.Ptr(dealAddWhitelist), SubStatus: api.Ptr(""), OperationTime: h.Now()})
		if err != nil {
			return nil, err
		}
		if err := h.Store.AddWhitelistHits(ctx, c.AccountID, map[int64]int64{r.ID: n}); err != nil {
			return nil, err
		}
	}
	return &tcss.AddOrModifyVirusWhiteListRuleResponse{}, nil
}

func (h *handlers) describeVirusWhiteListRules(ctx context.Context, c *server.Call, req *tcss.DescribeVirusWhiteListRulesRequest) (*tcss.DescribeVirusWhiteListRulesResponse, error) {
	limit, offset, err := svc.PagingU(req.Limit, req.Offset)
	if err != nil {
		return nil, err
	}
	q := store.WhitelistQuery{Product: store.WhitelistTCSS, Limit: limit, Offset: offset}
	if q.Desc, err = svc.Desc(req.Order); err != nil {
		return nil, err
	}
	switch api.Value(req.By) {
	case "", "InsertTime":
	case "UpdateTime":
		q.OrderBy = store.WhitelistByModifyTime
	default:
		return nil, api.ErrInvalidParameterValue("By", fmt.Sprintf("%q is not InsertTime or UpdateTime.", api.Value(req.By)),
			fmt.Sprintf("%q 不是 InsertTime 或 UpdateTime。", api.Value(req.By)))
	}
	// The official example filters by "id"; vigil also takes MD5, ImageId and Scope.
	fs, err := svc.Filters("Filters", runtimeFilters(req.Filters), "id", "Id", "MD5", "Md5", "ImageId", "Scope")
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"MD5", "Md5"} {
		if f, ok := fs[k]; ok {
			q.MD5s = store.TextFilter{Values: append(q.MD5s.Values, f.Values...), Exact: f.Exact}
		}
	}
	// Id, image and scope filters are applied here, over the account's
	// rules (few: whitelists are written by hand).
	var ids []int64
	var scopes []bool
	images := fs["ImageId"].Text()
	for _, k := range []string{"id", "Id"} {
		if f, ok := fs[k]; ok {
			for i, v := range f.Values {
				id, err := svc.ParseInt(f.ValueParam(i), v)
				if err != nil {
					return nil, err
				}
				ids = append(ids, id)
			}
		}
	}
	if f, ok := fs["Scope"]; ok {
		for i, v := range f.Values {
			switch strings.TrimSpace(v) {
			case "1":
				scopes = append(scopes, true)
			case "0":
				scopes = append(scopes, false)
			default:
				return nil, api.ErrInvalidParameterValue(f.ValueParam(i), fmt.Sprintf("%q is not 0 or 1.", v), fmt.Sprintf("%q 不是 0 或 1。", v))
			}
		}
	}
	var page store.Page[store.WhitelistRule]
	if len(ids) == 0 && !images.Set() && len(scopes) == 0 {
		if page, err = h.Store.QueryWhitelistRules(ctx, c.AccountID, q); err != nil {
			return nil, svc.StoreError(err, "Filters", "")
		}
	} else {
		all := q
		all.Limit, all.Offset = 0, 0
		p, err := h.Store.QueryWhitelistRules(ctx, c.AccountID, all)
		if err != nil {
			return nil, svc.StoreError(err, "Filters", "")
		}
		for _, r := range p.Items {
			if len(ids) > 0 && !slices.Contains(ids, r.ID) || len(scopes) > 0 && !slices.Contains(scopes, r.IsGlobal) ||
				images.Set() && !slices.ContainsFunc(r.ImageIDs, images.Match) {
				continue
			}
			page.Items = append(page.Items, r)
		}
		page.Total = int64(len(page.Items))
		page.Items = page.Items[min(offset, len(page.Items)):min(offset+limit, len(page.Items))]
	}
	resp := &tcss.DescribeVirusWhiteListRulesResponse{TotalCount: api.Ptr(uint64(max(page.Total, 0))), List: make([]*tcss.VirusWhiteListRuleInfo, 0, len(page.Items))}
	for _, r := range page.Items {
		scope := uint64(0)
		if r.IsGlobal {
			scope = 1
		}
		resp.List = append(resp.List, &tcss.VirusWhiteListRuleInfo{
			Id: api.Ptr(uint64(r.ID)), Md5List: svc.StringPtrs(r.MD5s), ImageIds: svc.StringPtrs(r.ImageIDs), Scope: api.Ptr(scope),
			ImageCount: api.Ptr(uint64(len(r.ImageIDs))), Md5Count: api.Ptr(uint64(len(r.MD5s))), Remark: api.Ptr(r.Remark),
			InsertTime: api.Ptr(svc.FormatRFC3339(r.CreatedAt)), UpdateTime: api.Ptr(svc.FormatRFC3339(r.UpdatedAt)),
		})
	}
	return resp, nil
}

func (h *handlers) deleteVirusWhiteListRule(ctx context.Context, c *server.Call, req *tcss.DeleteVirusWhiteListRuleRequest) (*tcss.DeleteVirusWhiteListRuleResponse, error) {
	if len(req.RuleIdSet) == 0 {
		return nil, api.ErrMissingParameter("RuleIdSet")
	}
	if len(req.RuleIdSet) > 100 {
		return nil, api.ErrInvalidParameterValue("RuleIdSet", "at most 100 ids.", "最多 100 个。")
	}
	ids := make([]int64, 0, len(req.RuleIdSet))
	for i, p := range req.RuleIdSet {
		if p == nil || *p == 0 || *p > 1<<62 {
			return nil, api.ErrInvalidParameterValue(fmt.Sprintf("RuleIdSet.%d", i), "must be a whitelist rule id.", "须为白名单规则 ID。")
		}
		ids = append(ids, int64(*p))
	}
	err := h.Store.DeleteWhitelistRules(ctx, c.AccountID, store.WhitelistTCSS, ids)
	if errors.Is(err, store.ErrNotFound) {
		// Name the first id that is not the account's (nothing was deleted).
		for i, id := range ids {
			if _, gerr := h.Store.GetWhitelistRule(ctx, c.AccountID, store.WhitelistTCSS, id); errors.Is(gerr, store.ErrNotFound) {
				return nil, svc.StoreError(err, fmt.Sprintf("RuleIdSet.%d", i), strconv.FormatInt(id, 10))
			}
		}
	}
	if err != nil {
		return nil, svc.StoreError(err, "RuleIdSet", "")
	}
	return &tcss.DeleteVirusWhiteListRuleResponse{}, nil
}
