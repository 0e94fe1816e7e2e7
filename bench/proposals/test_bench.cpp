#include <benchmark/benchmark.h>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <memory>
#include <netinet/in.h>
#include "fast_decide.hpp"
using namespace bindguard;

static std::string gen(int n){std::string t="version = 1\n[log]\nto = \"none\"\n";for(int i=0;i<n;++i){t+="[[rule]]\nname = \"rule-"+std::to_string(i)+"\"\naction = \"allow\"\naddress = [\"10."+std::to_string(i/256)+"."+std::to_string(i%256)+".0/24\"]\nport = [\"8000-8999\"]\nprotocol = \"tcp\"\n";}return t;}
static Policy parse(const std::string& t){auto r=parse_policy(t,"x"); if(!r.ok()){for(auto&d:r.diagnostics)fprintf(stderr,"%s\n",d.to_string().c_str()); exit(1);} return *r.policy;}

static std::string random_policy(std::mt19937& g){
  std::string t="version = 1\n[loopback]\ndual_stack = \""+std::string(g()%2?"ipv4":"ipv6")+"\"\n[default]\naction = \""+std::string(g()%2?"rewrite":"deny")+"\"\nudp_ephemeral = \""+(g()%2?"allow":"apply")+"\"\n";
  int n=g()%40;
  const char* v4s[]={"10.0.0.0/8","10.1.0.0/16","10.1.2.0/24","10.1.2.3/32","0.0.0.0/0","127.0.0.0/8","192.168.0.0/16","0.0.0.0/32","172.16.0.0/12"};
  const char* v6s[]={"::/0","fd00::/8","fd00:1::/32","::1/128","::ffff:0:0/96","::ffff:10.0.0.0/104","2001:db8::/32","::/128","fe80::/10"};
  for(int i=0;i<n;++i){
    t+="[[rule]]\nname = \"r"+std::to_string(i)+"\"\naction = \""+std::string((const char*[]){"allow","rewrite","deny"}[g()%3])+"\"\n";
    int na=g()%3; if(na){t+="address = [";for(int k=0;k<na;++k){if(k)t+=", ";t+="\""+std::string(g()%2?v4s[g()%9]:v6s[g()%9])+"\"";}t+="]\n";}
    int np=g()%3; if(np){t+="port = [";for(int k=0;k<np;++k){if(k)t+=", "; int a=g()%5; if(a==0)t+="\"8000-8999\""; else if(a==1) t+="0"; else t+=std::to_string((int[]){80,443,3000}[g()%3]);}t+="]\n";}
    int pr=g()%3; if(pr) t+=std::string("protocol = \"")+(pr==1?"tcp":"udp")+"\"\n";
  }
  return t;
}
static Endpoint random_ep(std::mt19937& g){
  const char* eps[]={"0.0.0.0","127.0.0.1","127.5.5.5","10.1.2.3","10.1.2.4","10.1.9.9","10.200.0.1","192.168.1.1","172.16.5.5","1.2.3.4","[::]","[::1]","[::ffff:0.0.0.0]","[::ffff:127.0.0.1]","[::ffff:10.1.2.3]","[fd00:1::5]","[fd00:2::5]","[2001:db8::1]","[fe80::1]","[2a00::1]","10.0.3.7","10.3.231.7"};
  int ports[]={0,80,443,3000,4000,4001,8000,8080,8999,9000,65535};
  std::string s=std::string(eps[g()%22])+":"+std::to_string(ports[g()%11]);
  auto e=parse_endpoint(s); if(!e){fprintf(stderr,"bad %s\n",s.c_str());exit(1);} return *e;
}
static bool same(const Decision&a,const Decision&b){return a.action==b.action&&a.address==b.address&&std::strcmp(a.rule,b.rule)==0;}
static long check(const Policy& p, std::mt19937& g, int n){
  auto c=proto::compile(p); long bad=0;
  for(int i=0;i<n;++i){Request r; r.address=random_ep(g); r.protocol=(Protocol[]){Protocol::tcp,Protocol::udp,Protocol::other}[g()%3]; r.v6only=g()%2;
    auto a=decide(p,r), b=proto::decide_fast(c,r); if(!same(a,b)){ if(bad<5){char x[200],y[200];describe(r,a,false,x,200);describe(r,b,false,y,200);fprintf(stderr,"MISMATCH %s (%s) vs %s (%s)\n",x,a.rule,y,b.rule);} ++bad;}}
  return bad;
}
int main(int argc,char**argv){
  std::mt19937 g(42); long bad=0, total=0;
  bad+=check(builtin_policy(),g,20000); total+=20000;
  for(int n: {10,100,1000}){ bad+=check(parse(gen(n)),g,20000); total+=20000; }
  auto doable=*load_policy_file("/work/main/examples/doable/policy.toml").policy;
  bad+=check(for_process(doable,"/usr/sbin/nginx","nginx","web"),g,20000); bad+=check(for_process(doable,"/usr/bin/node","node ws/server.mjs","ws"),g,20000); total+=40000;
  for(int k=0;k<3000;++k){ bad+=check(parse(random_policy(g)),g,200); total+=200; }
  printf("differential: %ld mismatches in %ld requests\n",bad,total);
  if(bad) return 1;
  benchmark::Initialize(&argc,argv);
  struct C{std::string name; Policy p; Endpoint e;};
  static std::vector<C> cases;
  cases.push_back({"builtin/wildcard-rewrite",builtin_policy(),*parse_endpoint("0.0.0.0:3000")});
  cases.push_back({"builtin/loopback-allow",builtin_policy(),*parse_endpoint("127.0.0.1:3000")});
  cases.push_back({"doable/ws-dualstack-rewrite",for_process(doable,"/usr/bin/node","node ws/server.mjs","ws"),*parse_endpoint("[::]:4001")});
  cases.push_back({"doable/nginx-allow",for_process(doable,"/usr/sbin/nginx","nginx -g daemon off;",""),*parse_endpoint("0.0.0.0:443")});
  for(int n:{10,100,1000}){ auto p=parse(gen(n)); std::string l="rules-"+std::to_string(n);
    cases.push_back({l+"/match-first",p,*parse_endpoint("10.0.0.7:8080")});
    cases.push_back({l+"/match-last",p,*parse_endpoint("10."+std::to_string((n-1)/256)+"."+std::to_string((n-1)%256)+".7:8080")});
    cases.push_back({l+"/match-none",p,*parse_endpoint("192.168.1.10:8080")}); }
  for(auto& c: cases){
    benchmark::RegisterBenchmark(("current/"+c.name).c_str(),[&c](benchmark::State& s){Request r; r.address=c.e; for(auto _:s){auto d=decide(c.p,r); benchmark::DoNotOptimize(d);}});
    benchmark::RegisterBenchmark(("compiled/"+c.name).c_str(),[&c](benchmark::State& s){static thread_local int dummy; (void)dummy; auto comp=std::make_shared<proto::CompiledPolicy>(proto::compile(c.p)); Request r; r.address=c.e; for(auto _:s){auto d=proto::decide_fast(*comp,r); benchmark::DoNotOptimize(d);}});
  }
  benchmark::RegisterBenchmark("bare/bind-ebadf",[](benchmark::State& s){sockaddr_in a{}; a.sin_family=AF_INET; for(auto _:s){int r=bind(-1,(sockaddr*)&a,sizeof a); benchmark::DoNotOptimize(r);}});
  benchmark::RunSpecifiedBenchmarks();
}
