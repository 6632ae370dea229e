"""Where a lossy download's time goes, from a pcap of bench/loss-capture.ts (tshark): the sender's idle
gaps above a threshold (default 2 ms), split into those that ended without an ACK just before
(a timer: RACK's reordering timer, the tail loss probe, the RTO) and those that ended right after
one; with "flight", the flight at each send and the RTT of new data (p10/p50/p90)."""
import sys, subprocess
SRV='192.168.123.150'
def load(f):
    out=subprocess.run(['tshark','-r',f,'-o','tcp.relative_sequence_numbers:FALSE','-T','fields','-E','separator=|','-e','frame.time_relative','-e','ip.src','-e','tcp.seq','-e','tcp.len','-e','tcp.ack','-e','tcp.window_size','-e','tcp.options.sack_le','-e','tcp.options.sack_re','-e','tcp.flags.str'],capture_output=True,text=True).stdout
    rows=[]
    for l in out.splitlines():
        t,src,seq,ln,ack,win,le,re,fl=l.split('|')
        rows.append((float(t),src==SRV,int(seq),int(ln),int(ack or 0),int(win or 0),[int(x) for x in le.split(',') if x],[int(x) for x in re.split(',') if x],fl))
    return rows
def analyze(f, thr=float(sys.argv[2]) if len(sys.argv)>2 and sys.argv[2]!="flight" else 0.002):
    rows=load(f)
    isn=None; cisn=None
    for r in rows:
        if r[1] and 'S' in r[8]: isn=r[2]
    rel=lambda s:(s-isn)%2**32
    maxs=0; lastack=0; last_tx=None; acks_since=[]; gaps=[]; first=None; end=None
    ndata=0;nrtx=0; flight_samples=[]
    for r in rows:
        t,fs,seq,ln,ack,win,le,re,fl=r
        if fs:
            if ln==0: continue
            s=rel(seq); e=s+ln
            if first is None: first=t
            rtx = s < maxs
            ndata+=1; nrtx+=rtx
            if last_tx is not None and t-last_tx>thr:
                gaps.append(dict(t=last_tx-first,d=t-last_tx,acks=len(acks_since),lastackgap=(t-acks_since[-1][0]) if acks_since else None,flight=maxs-lastack,rtx=rtx,seq=s,sackblocks=len(acks_since[-1][1]) if acks_since else 0))
            last_tx=t; acks_since=[]
            if e>maxs: maxs=e
            end=t
            flight_samples.append((t-first,maxs-lastack))
        else:
            if isn is None or ack==0: continue
            a=rel(ack)
            if a>lastack: lastack=a
            acks_since.append((t,le))
    tot=end-first
    print(f"{f}: data {ndata} rtx {nrtx} span {tot*1000:.1f} ms; gaps>{thr*1000}ms: {len(gaps)} summing {sum(g['d'] for g in gaps)*1000:.1f} ms")
    # classify: gap ended by a timer if no ack arrived within 0.3 ms before the send
    tim=[g for g in gaps if g['lastackgap'] is None or g['lastackgap']>0.0003]
    ack=[g for g in gaps if g not in tim]
    print(f"  ended without a preceding ACK (timer): {len(tim)} {sum(g['d'] for g in tim)*1000:.1f} ms; ended right after an ACK: {len(ack)} {sum(g['d'] for g in ack)*1000:.1f} ms")
    import collections
    h=collections.Counter(round(g['d']*1000) for g in tim)
    print('  timer gap durations (ms:count):',sorted(h.items())[:40])
    h=collections.Counter(round(g['d']*1000) for g in ack)
    print('  ack gap durations (ms:count):',sorted(h.items())[:40])
    if len(sys.argv)>3:
        for g in gaps[:int(sys.argv[3])]: print('   ',{k:(round(v*1000,2) if isinstance(v,float) else v) for k,v in g.items()})

def flights(f):
    rows=load(f); isn=None
    for r in rows:
        if r[1] and 'S' in r[8]: isn=r[2]
    rel=lambda s:(s-isn)%2**32
    maxs=0; la=0; fl=[]; sent={}; rtts=[]
    for r in rows:
        t,fs,seq,ln,ack,win,le,re,flg=r
        if fs and ln>0:
            s=rel(seq)
            if s>=maxs: sent[s+ln]=t
            maxs=max(maxs,s+ln); fl.append(maxs-la)
        elif not fs and ack:
            a=rel(ack)
            if a>la:
                if a in sent: rtts.append(t-sent[a])
                la=a
    fl.sort(); rtts.sort()
    q=lambda v,p: v[int(len(v)*p)] if v else None
    print(f"{f}: flight at send p10/50/90 {q(fl,.1)} {q(fl,.5)} {q(fl,.9)}; rtt(new data, cum ack) p10/50/90 ms {q(rtts,.1)*1000:.3f} {q(rtts,.5)*1000:.3f} {q(rtts,.9)*1000:.3f}")

if __name__=="__main__":
    (flights if len(sys.argv)>2 and sys.argv[2]=="flight" else analyze)(sys.argv[1])
