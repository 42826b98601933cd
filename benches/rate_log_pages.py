#!/usr/bin/env python3
"""WAL frames a request's commit writes for the rate-limit log (`verify_requests`) in steady state:
an hour of requests at one a second already logged, then 600 more, each deleting what fell out
of the one-hour window and logging itself. Pruned by every request, or only when a minute
boundary has passed (src/store/ratelimit.rs). Same table and indexes as the schema; SQLite in
WAL mode, frames counted from the -wal file's growth. BENCHMARKS.md, "seventh pass".

    python3 benches/rate_log_pages.py
"""
import sqlite3,os,tempfile,random
def run(rounding):
    d=tempfile.mkdtemp(); p=os.path.join(d,'t.db')
    c=sqlite3.connect(p, isolation_level=None); c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA wal_autocheckpoint=0')
    c.executescript('''CREATE TABLE verify_requests (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, recipient TEXT NOT NULL, key_label TEXT NOT NULL, client_ip TEXT, created_at INTEGER NOT NULL);
    CREATE INDEX verify_requests_recipient ON verify_requests(recipient, created_at);
    CREATE INDEX verify_requests_key ON verify_requests(key_label, created_at);
    CREATE INDEX verify_requests_ip ON verify_requests(client_ip, created_at) WHERE client_ip IS NOT NULL;
    CREATE INDEX verify_requests_time ON verify_requests(created_at);''')
    t0=1_700_000_040_000; H=3_600_000
    c.execute('BEGIN')
    for i in range(3600):
        c.execute('INSERT INTO verify_requests (kind,recipient,key_label,created_at) VALUES (?,?,?,?)',('text','+1415555%04d'%random.randrange(10000),'k',t0+i*1000))
    c.execute('COMMIT'); c.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    frames=[]
    for r in range(600):
        now=t0+H+r*1000
        before=os.path.getsize(p+'-wal')
        c.execute('BEGIN')
        cut=now-H
        if rounding: cut-=cut%60000
        c.execute('DELETE FROM verify_requests WHERE created_at <= ?',(cut,))
        c.execute('INSERT INTO verify_requests (kind,recipient,key_label,created_at) VALUES (?,?,?,?)',('text','+1415555%04d'%random.randrange(10000),'k',now))
        c.execute('COMMIT')
        frames.append((os.path.getsize(p+'-wal')-max(before,32))//4120)
    frames.sort()
    print('rounding' if rounding else 'every request', 'frames per commit: median',frames[len(frames)//2],'mean %.2f'%(sum(frames)/len(frames)),'max',frames[-1])
if __name__ == '__main__':
    run(False)
    run(True)
