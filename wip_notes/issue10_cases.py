import numpy as np, warnings
from lmfit_ref import Parameters, minimize
def show(tag, out, p):
    print(f"{tag}: success={out.success} eb={out.errorbars} nfev={out.nfev} " + ", ".join(f"{n}={q.value:.6g}±{q.stderr if q.stderr is None else float('%.4g' % q.stderr)}" for n, q in p.items()))
    if not out.success or not out.errorbars: print("   ", out.message[-300:])
x = np.linspace(0, 1, 20); p = Parameters(); p.add('f', value=0.3, min=0.2, max=0.4)
show("midpoint", minimize(lambda p: p['f'].value*x - 0.34*x, p), p)
# gaussian cen in [0.1,0.3] at 0.2
rng = np.random.default_rng(1); xg = np.linspace(0,1,101)
yg = 3*np.exp(-(xg-0.23)**2/(2*0.05**2)) + rng.normal(0,0.05,xg.size)
def g(p): return p['amp'].value*np.exp(-(xg-p['cen'].value)**2/(2*p['wid'].value**2)) - yg
p = Parameters(); p.add('amp', value=2); p.add('cen', value=0.2, min=0.1, max=0.3); p.add('wid', value=0.06)
show("gauss", minimize(g, p), p)
# start 1e-20 offset
yl = 2*xg + 1 + rng.normal(0, 0.05, xg.size)
p = Parameters(); p.add('off', value=1e-20); p.add('slope', value=1.)
show("1e-20", minimize(lambda p: p['off'].value + p['slope'].value*xg - yl, p), p)
p = Parameters(); p.add('off', value=1e-20)
show("1e-20 alone", minimize(lambda p: p['off'].value + 2*xg - yl, p), p)
# wide bounds time constant
t = np.linspace(0, 10, 200); yd = 5*np.exp(-t/2.0) + rng.normal(0, 0.05, t.size)
for mx in (None, 1e6, 1e10):
    p = Parameters(); p.add('A', value=4); p.add('tau', value=1.0, min=0, max=mx)
    show(f"tau max={mx}", minimize(lambda p: p['A'].value*np.exp(-t/p['tau'].value) - yd, p), p)
p = Parameters(); p.add('A', value=4, min=-1e12, max=1e12); p.add('tau', value=1.0)
show("A ±1e12", minimize(lambda p: p['A'].value*np.exp(-t/p['tau'].value) - yd, p), p)
# NaN once at evaluation 6
cnt = [0]
def nanonce(p):
    cnt[0]+=1
    r = p['A'].value*np.exp(-t/p['tau'].value) - yd
    if cnt[0]==6: r = r.copy(); r[3] = np.nan
    return r
p = Parameters(); p.add('A', value=4); p.add('tau', value=1.0)
show("nan@6", minimize(nanonce, p), p)
# Dfun wrong sign
def dwrong(p):
    A, tau = p['A'].value, p['tau'].value
    e = np.exp(-t/tau)
    return -np.column_stack([e, A*e*t/tau**2])
p = Parameters(); p.add('A', value=4); p.add('tau', value=1.0)
show("dfun sign", minimize(lambda p: p['A'].value*np.exp(-t/p['tau'].value) - yd, p, Dfun=dwrong), p)
def dright(p):
    A, tau = p['A'].value, p['tau'].value
    e = np.exp(-t/tau)
    return np.column_stack([e, A*e*t/tau**2])
p = Parameters(); p.add('A', value=4); p.add('tau', value=1.0)
show("dfun right", minimize(lambda p: p['A'].value*np.exp(-t/p['tau'].value) - yd, p, Dfun=dright), p)
# degenerate
p = Parameters(); p.add('a', value=1); p.add('b', value=1)
show("a+b", minimize(lambda p: (p['a'].value + p['b'].value)*xg - yl, p), p)
