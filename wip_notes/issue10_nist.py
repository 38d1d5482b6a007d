import math, sys
import lmfit_ref
from lmfit_ref import nist
for ds in nist.load_all():
    for start in (1, 2):
        params = ds.parameters(start)
        out = lmfit_ref.minimize(ds.residual, params, args=ds.args)
        v = min(nist.lre(params[n].value, c) for n, c in zip(ds.names, ds.certified_values))
        st = [params[n].stderr for n in ds.names]
        if ds.name == "Lanczos1" and None not in st:
            sc = math.sqrt(ds.certified_rss / out.chisqr); st = [s*sc for s in st]
        s = min(nist.lre(x, c) for x, c in zip(st, ds.certified_stderr))
        flag = "" if (out.success and out.errorbars and v >= 6 and s >= 4) else "  <-- " + out.message[-200:]
        print(f"{ds.name:9s}{start} ok={out.success:d}{out.errorbars:d} lreV={v:5.2f} lreS={s:5.2f} nfev={out.nfev:5d} z={out.engine_info.get('certificate', -1):.2g} J={out.engine_info.get('jacobian','')[:14]}{flag}")
