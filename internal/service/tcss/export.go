package tcss

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/export"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// Exporter runs export jobs and signs their download URLs
// (*export.Manager implements it).
type Exporter interface {
	// Start creates the job and produces the file; small exports are
	// finished when it returns.
	Start(ctx context.Context, accountID int64, s export.Spec) (store.ExportJob, error)
	// Get returns the account's job; another account's is store.ErrNotFound.
	Get(ctx context.Context, accountID int64, id string) (store.ExportJob, error)
	// DownloadURL is the job's signed, expiring download URL.
	DownloadURL(accountID int64, jobID string) string
}

func (h *handlers) registerExportActions(mux *server.Mux) {
	server.Handle(mux, Version, tcss.ActionDescribeAssetImageRegistryVirusListExport, h.describeAssetImageRegistryVirusListExport)
	server.Handle(mux, Version, tcss.ActionDescribeExportJobResult, h.describeExportJobResult)
}

func (h *handlers) exporter() (Exporter, error) {
	if h.Exports == nil {
		return nil, api.NewError(api.UnsupportedOperation, "Exports are not enabled on this vigil server.", "当前 vigil 服务未启用导出功能。")
	}
	return h.Exports, nil
}

// virusExportColumn is one ExportField of the registry virus list export:
// the ImageVirus member names of DescribeAssetImageRegistryVirusList.
type exportColumn[T any] struct {
	field  string
	en, zh string
	value  func(v T, lang api.Language) string
}

type virusExportColumn = exportColumn[store.ImageVirus]

var virusExportColumns = []virusExportColumn{
	{"Path", "Path", "路径", func(v store.ImageVirus, _ api.Language) string { return strings.TrimPrefix(v.Path, "/") }},
	{"RiskLevel", "Risk level", "风险等级", func(v store.ImageVirus, _ api.Language) string { return v.RiskLevel }},
	{"Category", "Category", "分类", func(v store.ImageVirus, _ api.Language) string { return v.Category }},
	{"VirusName", "Virus name", "病毒名称", func(v store.ImageVirus, _ api.Language) string { return v.VirusName }},
	{"Tags", "Tags", "标签", func(v store.ImageVirus, _ api.Language) string { return strings.Join(v.Threat.Tags, ",") }},
	{"Desc", "Description", "描述", func(v store.ImageVirus, l api.Language) string { return l.Pick(v.Threat.Desc.EN, v.Threat.Desc.ZH) }},
	{"Solution", "Solution", "解决方案", func(v store.ImageVirus, l api.Language) string {
		return l.Pick(v.Threat.Solution.EN, v.Threat.Solution.ZH)
	}},
	{"FileType", "File type", "文件类型", func(v store.ImageVirus, _ api.Language) string { return v.FileType }},
	{"FileName", "File name", "文件名", func(v store.ImageVirus, _ api.Language) string { return fileName(v) }},
	{"FileMd5", "File MD5", "文件MD5", func(v store.ImageVirus, _ api.Language) string { return v.FileMD5 }},
	{"FileSize", "File size", "大小", func(v store.ImageVirus, _ api.Language) string { return fmt.Sprint(max(v.FileSize, 0)) }},
	{"FirstScanTime", "First scan time", "首次发现时间", func(v store.ImageVirus, _ api.Language) string { return svc.FormatRegistry(v.FirstScanTime) }},
	{"LatestScanTime", "Latest scan time", "最近扫描时间", func(v store.ImageVirus, _ api.Language) string { return svc.FormatRegistry(v.LatestScanTime) }},
}

// pickColumns picks the columns ExportField names, in its order and without
// repeats (every column when it is empty); an unknown name is an error
// naming its ExportField.N.
func pickColumns[T any](all []exportColumn[T], fields []*string) ([]exportColumn[T], error) {
	if len(fields) == 0 {
		return all, nil
	}
	var out []exportColumn[T]
	seen := make(map[string]bool)
next:
	for i, p := range fields {
		f := api.Value(p)
		for _, col := range all {
			if strings.EqualFold(col.field, f) {
				if !seen[col.field] {
					seen[col.field] = true
					out = append(out, col)
				}
				continue next
			}
		}
		names := make([]string, len(all))
		for j, col := range all {
			names[j] = col.field
		}
		return nil, api.ErrInvalidParameterValue(fmt.Sprintf("ExportField.%d", i),
			fmt.Sprintf("unknown field %q; fields: %s.", f, strings.Join(names, ", ")),
			fmt.Sprintf("未知导出字段 %q，支持：%s。", f, strings.Join(names, "、")))
	}
	return out, nil
}

func (h *handlers) describeAssetImageRegistryVirusListExport(ctx context.Context, c *server.Call, req *tcss.DescribeAssetImageRegistryVirusListExportRequest) (*tcss.DescribeAssetImageRegistryVirusListExportResponse, error) {
	ex, err := h.exporter()
	if err != nil {
		return nil, err
	}
	cols, err := pickColumns(virusExportColumns, req.ExportField)
	if err != nil {
		return nil, err
	}
	// Image and filters exactly as DescribeAssetImageRegistryVirusList takes
	// them; Limit and Offset are not applied: the export holds every match.
	q, img, err := h.registryVirusQuery(ctx, c, req.Filters, req.Id, req.ImageInfo)
	if err != nil {
		return nil, err
	}
	first, err := h.Store.QueryImageViruses(ctx, c.AccountID, img.ID, store.ImageVirusQuery{RiskLevels: q.RiskLevels, Names: q.Names, Limit: 1})
	if err != nil {
		return nil, svc.StoreError(err, "Id", fmt.Sprint(img.ID))
	}
	header := make([]string, len(cols))
	for i, col := range cols {
		header[i] = c.Language.Pick(col.en, col.zh)
	}
	params, _ := json.Marshal(req)
	lang, accountID, st := c.Language, c.AccountID, h.Store
	spec := export.Spec{
		Kind:     "tcss." + tcss.ActionDescribeAssetImageRegistryVirusListExport,
		FileName: fmt.Sprintf("image_virus_list_%d_%s", img.ID, h.Now().UTC().Format("20060102150405")),
		Sheet:    c.Language.Pick("Image viruses", "镜像木马"),
		Header:   header,
		Params:   params,
		Total:    first.Total,
		Rows: func(ctx context.Context, yield func([]string) error) error {
			const page = 1000
			pq := store.ImageVirusQuery{RiskLevels: q.RiskLevels, Names: q.Names, Limit: page}
			for {
				p, err := st.QueryImageViruses(ctx, accountID, img.ID, pq)
				if err != nil {
					return err
				}
				for _, v := range p.Items {
					row := make([]string, len(cols))
					for i, col := range cols {
						row[i] = col.value(v, lang)
					}
					if err := yield(row); err != nil {
						return err
					}
				}
				if len(p.Items) < page {
					return nil
				}
				pq.Offset += page
			}
		},
	}
	job, err := ex.Start(ctx, c.AccountID, spec)
	if err != nil {
		return nil, err
	}
	return &tcss.DescribeAssetImageRegistryVirusListExportResponse{
		JobId:       api.Ptr(job.ID),
		DownloadUrl: api.Ptr(ex.DownloadURL(c.AccountID, job.ID)),
	}, nil
}

func (h *handlers) describeExportJobResult(ctx context.Context, c *server.Call, req *tcss.DescribeExportJobResultRequest) (*tcss.DescribeExportJobResultResponse, error) {
	ex, err := h.exporter()
	if err != nil {
		return nil, err
	}
	id := api.Value(req.JobId)
	j, err := ex.Get(ctx, c.AccountID, id)
	if err != nil {
		return nil, svc.StoreError(err, "JobId", id)
	}
	resp := &tcss.DescribeExportJobResultResponse{
		ExportStatus:   api.Ptr(j.Status),
		DownloadURL:    api.Ptr(""),
		ExportProgress: api.Ptr(j.Progress),
		FailureMsg:     api.Ptr(j.FailureMsg),
	}
	switch j.Status {
	case store.ExportSuccess:
		resp.DownloadURL = api.Ptr(ex.DownloadURL(c.AccountID, j.ID))
		resp.ExportProgress = api.Ptr(100.0)
	case store.ExportPending:
		// The API knows SUCCESS, FAILURE and RUNNING only.
		resp.ExportStatus = api.Ptr(store.ExportRunning)
	}
	return resp, nil
}
