package engine_test
import ("context";"testing";"time";"os";"runtime/pprof";"github.com/vigil-sec/vigil/internal/engine";"github.com/vigil-sec/vigil/internal/engine/yara";"github.com/vigil-sec/vigil/internal/engine/hashlist";"github.com/vigil-sec/vigil/internal/engine/heuristic")
func TestScratchPhases(t *testing.T){
	for i:=0;i<3;i++{
	s:=time.Now()
	c:=engine.NewCache(0)
	if err:=c.Load("/tmp/bench1/scan.cache"); err!=nil {t.Fatal(err)}
	t1:=time.Since(s); s=time.Now()
	e,err:=engine.New(context.Background(), engine.WithDetector(heuristic.New()), engine.WithKind(yara.Kind()), engine.WithKind(hashlist.Kind()), engine.WithRules(engine.DirSource("rules/pack")), engine.WithCache(c), engine.WithConcurrency(2))
	if err!=nil {t.Fatal(err)}
	t2:=time.Since(s); s=time.Now()
	var f *os.File
	if i==2 { f,_=os.Create("/tmp/hit.prof"); pprof.StartCPUProfile(f) }
	st,_:=e.ScanTree(context.Background(), []string{"/usr/bin","/usr/lib/x86_64-linux-gnu"}, func(*engine.Result){})
	if i==2 { pprof.StopCPUProfile(); f.Close() }
	t.Log("load",t1,"new",t2,"tree",time.Since(s), st.Cached, st.Files)
	}
}
