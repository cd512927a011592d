// Package tcss implements the handlers of container security (tcss, 2020-11-01).
package tcss

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/secrets"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// Version is the API version this package serves.
const Version = "2020-11-01"

// Deps is what the handlers need. Optional capabilities may be nil; the
// actions needing them then answer UnsupportedOperation.
type Deps struct {
	Store store.Store
	Now   func() time.Time
	// Box encrypts registry passwords at rest.
	Box *secrets.Box
	// Registries checks connectivity and lists registries (internal/registry).
	Registries RegistryProber
	// Syncer enumerates a registry's images into the store.
	Syncer RegistrySyncer
	// WakeScans tells the scan runner that new tasks exist; nil: it polls.
	WakeScans func()
	// Exports runs export jobs and signs their download URLs.
	Exports Exporter
	// Virus is the agent side of the trojan-file actions (virus.go).
	Virus VirusAgents
}

type handlers struct{ Deps }

// Register adds the implemented tcss actions to mux; the others answer UnsupportedOperation.
func Register(mux *server.Mux, d Deps) {
	if d.Now == nil {
		d.Now = time.Now
	}
	h := &handlers{d}
	server.Handle(mux, Version, tcss.ActionDescribeVirusDetail, h.describeVirusDetail)
	server.Handle(mux, Version, tcss.ActionDescribeAssetImageRegistryVirusList, h.describeAssetImageRegistryVirusList)
	h.registerRegistryActions(mux)
	h.registerScanActions(mux)
	h.registerExportActions(mux)
	h.registerVirusActions(mux)
}

func (h *handlers) describeVirusDetail(ctx context.Context, c *server.Call, req *tcss.DescribeVirusDetailRequest) (*tcss.DescribeVirusDetailResponse, error) {
	idText := api.Value(req.Id)
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return nil, svc.StoreError(store.ErrNotFound, "Id", idText)
	}
	e, err := h.Store.GetVirusEvent(ctx, c.AccountID, id)
	if err != nil {
		return nil, svc.StoreError(err, "Id", idText)
	}
	lang := c.Language
	return &tcss.DescribeVirusDetailResponse{
		ImageId:                      api.Ptr(e.ImageID),
		ImageName:                    api.Ptr(e.ImageName),
		CreateTime:                   api.Ptr(svc.FormatRFC3339(e.CreateTime)),
		Size:                         api.Ptr(uint64(max(e.FileSize, 0))),
		FilePath:                     api.Ptr(e.FilePath),
		ModifyTime:                   api.Ptr(svc.FormatRFC3339(e.ModifyTime)),
		VirusName:                    api.Ptr(e.VirusName),
		RiskLevel:                    api.Ptr(e.RiskLevel),
		ContainerName:                api.Ptr(e.ContainerName),
		ContainerId:                  api.Ptr(e.ContainerID),
		HostName:                     api.Ptr(e.Host.Name),
		HostId:                       api.Ptr(e.Host.UUID),
		ProcessName:                  api.Ptr(e.Process.Name),
		ProcessPath:                  api.Ptr(e.Process.Path),
		ProcessMd5:                   api.Ptr(e.Process.MD5),
		ProcessId:                    api.Ptr(uint64(max(e.Process.PID, 0))),
		ProcessArgv:                  api.Ptr(e.Process.Argv),
		ProcessChan:                  api.Ptr(e.Process.Chain),
		ProcessAccountGroup:          api.Ptr(e.Process.Group),
		ProcessStartAccount:          api.Ptr(e.Process.User),
		ProcessFileAuthority:         api.Ptr(e.Process.FileAuthority),
		SourceType:                   api.Ptr(int64(e.SourceType)),
		Tags:                         svc.StringPtrs(e.Threat.Tags),
		HarmDescribe:                 api.Ptr(pickText(lang, e.Threat.Desc.EN, e.Threat.Desc.ZH)),
		SuggestScheme:                api.Ptr(pickText(lang, e.Threat.Solution.EN, e.Threat.Solution.ZH)),
		Mark:                         api.Ptr(e.Mark),
		FileName:                     api.Ptr(e.FileName),
		FileMd5:                      api.Ptr(e.FileMD5),
		EventType:                    api.Ptr(e.EventType),
		PodName:                      api.Ptr(e.PodName),
		Status:                       api.Ptr(e.Status),
		SubStatus:                    api.Ptr(e.SubStatus),
		HostIP:                       api.Ptr(e.Host.PrivateIP),
		ClientIP:                     api.Ptr(e.Host.PublicIP),
		PProcessStartUser:            api.Ptr(e.Parent.User),
		PProcessUserGroup:            api.Ptr(e.Parent.Group),
		PProcessPath:                 api.Ptr(e.Parent.Path),
		PProcessParam:                api.Ptr(e.Parent.Argv),
		AncestorProcessStartUser:     api.Ptr(e.Ancestor.User),
		AncestorProcessUserGroup:     api.Ptr(e.Ancestor.Group),
		AncestorProcessPath:          api.Ptr(e.Ancestor.Path),
		AncestorProcessParam:         api.Ptr(e.Ancestor.Argv),
		OperationTime:                api.Ptr(svc.FormatRFC3339(e.OperationTime)),
		ContainerNetStatus:           api.Ptr(e.ContainerNetStatus),
		ContainerNetSubStatus:        api.Ptr(e.ContainerNetSubStatus),
		ContainerIsolateOperationSrc: api.Ptr(e.ContainerIsolateOperationSrc),
		CheckPlatform:                svc.StringPtrs(e.CheckPlatform),
		FileAccessTime:               api.Ptr(svc.FormatRFC3339(e.FileAccessTime)),
		FileModifyTime:               api.Ptr(svc.FormatRFC3339(e.FileModifyTime)),
		NodeSubNetID:                 api.Ptr(e.NodeSubnetID),
		NodeSubNetName:               api.Ptr(e.NodeSubnetName),
		NodeSubNetCIDR:               api.Ptr(e.NodeSubnetCIDR),
		ClusterID:                    api.Ptr(e.ClusterID),
		PodIP:                        api.Ptr(e.PodIP),
		PodStatus:                    api.Ptr(e.PodStatus),
		NodeUniqueID:                 api.Ptr(e.NodeUniqueID),
		NodeType:                     api.Ptr(e.NodeType),
		NodeID:                       api.Ptr(e.NodeID),
		ClusterName:                  api.Ptr(e.ClusterName),
		Namespace:                    api.Ptr(e.Namespace),
		WorkloadType:                 api.Ptr(e.WorkloadType),
		ContainerStatus:              api.Ptr(e.ContainerStatus),
	}, nil
}

func (h *handlers) describeAssetImageRegistryVirusList(ctx context.Context, c *server.Call, req *tcss.DescribeAssetImageRegistryVirusListRequest) (*tcss.DescribeAssetImageRegistryVirusListResponse, error) {
	limit, offset, err := svc.PagingU(req.Limit, req.Offset)
	if err != nil {
		return nil, err
	}
	q, img, err := h.registryVirusQuery(ctx, c, req.Filters, req.Id, req.ImageInfo)
	if err != nil {
		return nil, err
	}
	q.Limit, q.Offset = limit, offset
	page, err := h.Store.QueryImageViruses(ctx, c.AccountID, img.ID, q)
	if err != nil {
		return nil, svc.StoreError(err, "Id", fmt.Sprint(img.ID))
	}
	resp := &tcss.DescribeAssetImageRegistryVirusListResponse{
		TotalCount: api.Ptr(uint64(max(page.Total, 0))),
		List:       make([]*tcss.ImageVirus, 0, len(page.Items)),
	}
	for _, v := range page.Items {
		resp.List = append(resp.List, &tcss.ImageVirus{
			// The official example shows paths without the leading slash.
			Path:           api.Ptr(strings.TrimPrefix(v.Path, "/")),
			RiskLevel:      api.Ptr(v.RiskLevel),
			Category:       api.Ptr(v.Category),
			VirusName:      api.Ptr(v.VirusName),
			Tags:           svc.StringPtrs(v.Threat.Tags),
			Desc:           api.Ptr(c.Language.Pick(v.Threat.Desc.EN, v.Threat.Desc.ZH)),
			Solution:       api.Ptr(c.Language.Pick(v.Threat.Solution.EN, v.Threat.Solution.ZH)),
			FileType:       api.Ptr(v.FileType),
			FileName:       api.Ptr(fileName(v)),
			FileMd5:        api.Ptr(v.FileMD5),
			FileSize:       api.Ptr(uint64(max(v.FileSize, 0))),
			FirstScanTime:  api.Ptr(svc.FormatRegistry(v.FirstScanTime)),
			LatestScanTime: api.Ptr(svc.FormatRegistry(v.LatestScanTime)),
		})
	}
	return resp, nil
}

// registryVirusQuery resolves the image (Id or ImageInfo) and the filters
// (Level/RiskLevel, Name) of the registry virus list and its export; the
// caller adds paging.
func (h *handlers) registryVirusQuery(ctx context.Context, c *server.Call, filters []*tcss.AssetFilters, id *uint64, info *tcss.ImageInfo) (store.ImageVirusQuery, store.RegistryImage, error) {
	var img store.RegistryImage
	in := make([]svc.Filter, 0, len(filters))
	for _, f := range filters {
		if f != nil {
			in = append(in, svc.Filter{Name: api.Value(f.Name), Values: svc.Strings(f.Values), Exact: api.Value(f.ExactMatch)})
		}
	}
	// The description names the filters Level and Name; its example uses RiskLevel.
	fs, err := svc.Filters("Filters", in, "Level", "RiskLevel", "Name")
	if err != nil {
		return store.ImageVirusQuery{}, img, err
	}
	q := store.ImageVirusQuery{Names: fs["Name"].Text()}
	for _, key := range []string{"Level", "RiskLevel"} {
		if f, ok := fs[key]; ok {
			for i, v := range f.Values {
				level, err := riskLevel(f.ValueParam(i), v)
				if err != nil {
					return q, img, err
				}
				q.RiskLevels = append(q.RiskLevels, level)
			}
		}
	}
	switch {
	case id != nil:
		if *id > 1<<62 {
			return q, img, svc.StoreError(store.ErrNotFound, "Id", fmt.Sprint(*id))
		}
		img, err = h.Store.GetRegistryImage(ctx, c.AccountID, int64(*id))
		if err != nil {
			return q, img, svc.StoreError(err, "Id", fmt.Sprint(*id))
		}
	case info != nil:
		ref := store.ImageRef{RegistryName: api.Value(info.InstanceName), Namespace: api.Value(info.Namespace), Name: api.Value(info.ImageName), Tag: api.Value(info.ImageTag)}
		img, err = h.Store.FindRegistryImage(ctx, c.AccountID, ref)
		if err != nil {
			return q, img, svc.StoreError(err, "ImageInfo", ref.RegistryName+"/"+ref.Namespace+"/"+ref.Name+":"+ref.Tag)
		}
	default:
		return q, img, api.NewError(api.MissingParameter, "Give the image as `Id` or `ImageInfo`.", "请通过 `Id` 或 `ImageInfo` 指定镜像。")
	}
	return q, img, nil
}

func fileName(v store.ImageVirus) string {
	if v.FileName != "" {
		return v.FileName
	}
	return path.Base(v.Path)
}

// riskLevel accepts the numeric levels the registry list reports ("1" low …
// "4" critical, "0" notice) and the RISK_* names.
func riskLevel(param, v string) (string, error) {
	switch v {
	case "0", "1", "2", "3", "4":
		return v, nil
	case "RISK_NOTICE":
		return "0", nil
	case "RISK_LOW":
		return "1", nil
	case "RISK_MEDIUM":
		return "2", nil
	case "RISK_HIGH":
		return "3", nil
	case "RISK_CRITICAL":
		return "4", nil
	}
	return "", api.ErrInvalidParameterValue(param,
		fmt.Sprintf("%q is not a risk level; use 0 (notice) to 4 (critical) or RISK_NOTICE…RISK_CRITICAL.", v),
		fmt.Sprintf("%q 不是合法的风险等级，取值为 0（提示）～4（严重）或 RISK_NOTICE…RISK_CRITICAL。", v))
}
