"""Material pasted into training prompts: hand-written for the training generator only.

Nothing here is shared with the evaluation set (data/prompts/eval/src/materials.txt). Each
material has a kind (what it is), the language it is written in, and for extraction templates
a few things that can be pulled out of it. Programmatic variants (logs, CSV, code) come from
the generator functions at the end, so the model sees many surface forms of each kind.
"""
import random

M = []


def mat(name, kind, lang, text, fields=None):
    M.append({"name": name, "kind": kind, "lang": lang, "text": text.strip("\n"), "fields": fields or []})


mat("log_payments", "log", "en", """
Mar 04 02:13:55 api-7 payments[1822]: INFO  request_id=7f2c POST /v1/charges amount=4200 currency=usd
Mar 04 02:13:55 api-7 payments[1822]: INFO  request_id=7f2c stripe.charge created ch_3Pq latency_ms=412
Mar 04 02:14:02 api-7 payments[1822]: WARN  request_id=81aa retrying webhook delivery attempt=2 endpoint=https://hooks.example.org/pay
Mar 04 02:14:09 api-7 payments[1822]: ERROR request_id=81aa webhook delivery failed status=503 attempt=3
Mar 04 02:14:11 api-7 payments[1822]: ERROR request_id=9c01 db pool exhausted (max=20, waiting=57)
Mar 04 02:14:11 api-7 payments[1822]: ERROR request_id=9c02 db pool exhausted (max=20, waiting=61)
Mar 04 02:14:12 api-7 systemd[1]: payments.service: Main process exited, code=killed, status=9/KILL
Mar 04 02:14:12 api-7 systemd[1]: payments.service: Failed with result 'watchdog'.
Mar 04 02:14:13 api-7 systemd[1]: payments.service: Scheduled restart job, restart counter is at 4.
""", ["timestamps", "request ids", "error messages", "status codes", "restart counter"])

mat("log_ci", "log", "en", """
#14 [build 6/9] RUN npm ci --no-audit
#14 41.22 npm ERR! code ERESOLVE
#14 41.22 npm ERR! ERESOLVE unable to resolve dependency tree
#14 41.23 npm ERR! Found: react@18.2.0
#14 41.23 npm ERR! Could not resolve dependency:
#14 41.23 npm ERR! peer react@"^17.0.0" from react-beautiful-dnd@13.1.1
#14 ERROR: process "/bin/sh -c npm ci --no-audit" did not complete successfully: exit code: 1
------
 > [build 6/9] RUN npm ci --no-audit:
Error: Process completed with exit code 1.
""", ["package names", "versions", "exit code", "build step"])

mat("log_postgres", "log", "en", """
2024-11-19 03:00:01.221 UTC [48211] LOG:  checkpoint starting: time
2024-11-19 03:02:44.907 UTC [48211] LOG:  checkpoint complete: wrote 182344 buffers (69.6%); 0 WAL file(s) added, 12 removed, 31 recycled; write=161.2 s, sync=1.9 s, total=163.6 s
2024-11-19 03:05:12.003 UTC [51920] ERROR:  deadlock detected
2024-11-19 03:05:12.003 UTC [51920] DETAIL:  Process 51920 waits for ShareLock on transaction 99182731; blocked by process 51877.
	Process 51877 waits for ShareLock on transaction 99182730; blocked by process 51920.
2024-11-19 03:05:12.003 UTC [51920] STATEMENT:  UPDATE stock SET qty = qty - 1 WHERE sku = 'A-1140'
2024-11-19 03:07:30.550 UTC [52004] FATAL:  remaining connection slots are reserved for non-replication superuser connections
""", ["timestamps", "process ids", "error levels", "SQL statements"])

mat("log_android", "log", "en", """
11-02 18:44:10.312  4120  4120 D MainActivity: onResume()
11-02 18:44:10.590  4120  4188 I OkHttp  : --> GET https://api.tripnote.app/v3/trips?limit=50
11-02 18:44:13.221  4120  4188 I OkHttp  : <-- 200 OK (2631ms, 148 kB)
11-02 18:44:13.402  4120  4120 E AndroidRuntime: FATAL EXCEPTION: main
11-02 18:44:13.402  4120  4120 E AndroidRuntime: java.lang.IllegalStateException: Fragment TripListFragment not attached to a context.
11-02 18:44:13.402  4120  4120 E AndroidRuntime:     at androidx.fragment.app.Fragment.requireContext(Fragment.java:972)
11-02 18:44:13.402  4120  4120 E AndroidRuntime:     at app.tripnote.ui.TripListFragment.renderTrips(TripListFragment.kt:118)
""", ["timestamps", "thread ids", "HTTP requests", "exception class"])

mat("trace_node", "trace", "en", """
TypeError: Cannot destructure property 'userId' of 'req.session' as it is undefined.
    at getProfile (/app/src/routes/profile.js:14:11)
    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)
    at next (/app/node_modules/express/lib/router/route.js:149:13)
    at Route.dispatch (/app/node_modules/express/lib/router/route.js:119:3)
    at /app/node_modules/express/lib/router/index.js:284:15
""", ["error type", "file and line", "function names"])

mat("trace_go", "trace", "en", """
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6a3f2e]

goroutine 87 [running]:
github.com/acme/inventory/internal/sync.(*Worker).flush(0xc0001a2000)
	/src/internal/sync/worker.go:142 +0x4e
github.com/acme/inventory/internal/sync.(*Worker).Run(0xc0001a2000, {0x8d2f40, 0xc000120000})
	/src/internal/sync/worker.go:97 +0x1c5
created by main.main in goroutine 1
	/src/cmd/inventory/main.go:61 +0x3a5
""", ["goroutine id", "file and line", "functions"])

mat("trace_csharp", "trace", "en", """
System.InvalidOperationException: Sequence contains no elements
   at System.Linq.ThrowHelper.ThrowNoElementsException()
   at System.Linq.Enumerable.First[TSource](IEnumerable`1 source)
   at Warehouse.Services.PickingService.NextBin(Order order) in C:\\src\\Warehouse\\Services\\PickingService.cs:line 77
   at Warehouse.Api.Controllers.PickController.Post(PickRequest req) in C:\\src\\Warehouse\\Api\\Controllers\\PickController.cs:line 31
""", ["exception", "methods", "files and lines"])

mat("code_py_cache", "code", "en", """
import time

_cache = {}

def get_rate(currency):
    if currency in _cache:
        return _cache[currency]
    rate = fetch_rate_from_api(currency)   # slow HTTP call
    _cache[currency] = rate
    return rate

def convert(amount, currency):
    return round(amount * get_rate(currency), 2)
""", ["function names", "comments"])

mat("code_js_debounce", "code", "en", """
export function useAutosave(value, save) {
  const [status, setStatus] = useState('idle');
  useEffect(() => {
    setStatus('saving');
    const t = setTimeout(async () => {
      await save(value);
      setStatus('saved');
    }, 800);
  }, [value]);
  return status;
}
""", ["hooks used", "timeout"])

mat("code_java_account", "code", "en", """
public class Account {
    private double balance;

    public void withdraw(double amount) {
        if (amount > balance) {
            throw new IllegalArgumentException("Insufficient funds");
        }
        balance = balance - amount;
    }

    public void transfer(Account to, double amount) {
        this.withdraw(amount);
        to.balance += amount;
    }
}
""", ["methods", "fields"])

mat("code_c_strdup", "code", "en", """
char *join_path(const char *dir, const char *file) {
    char buf[256];
    strcpy(buf, dir);
    strcat(buf, "/");
    strcat(buf, file);
    return buf;
}
""", ["function", "buffer size"])

mat("code_sql_report", "sql", "en", """
SELECT d.name, COUNT(*) AS hires, AVG(e.salary)
FROM employees e, departments d
WHERE e.hired_on > '2023-01-01'
GROUP BY d.name
HAVING AVG(e.salary) > 50000;
""", ["tables", "columns"])

mat("code_bash_backup", "code", "en", """
#!/bin/bash
DATE=$(date +%F)
for db in $(mysql -e 'show databases' | grep -v Database); do
  mysqldump $db > /backups/$db-$DATE.sql
done
find /backups -mtime +14 -delete
""", ["commands", "paths"])

mat("code_yaml_k8s", "code", "en", """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: search-api
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: search-api
          image: registry.local/search-api:1.8.2
          resources:
            limits:
              memory: "512Mi"
          readinessProbe:
            httpGet:
              path: /ready
              port: 8080
""", ["image", "replicas", "memory limit"])

mat("code_py_comments_de", "code", "de", """
def bereinige_adressen(zeilen):
    # Entfernt doppelte Leerzeichen und vereinheitlicht die Schreibweise von "Straße"
    ergebnis = []
    for z in zeilen:
        z = " ".join(z.split())
        # "Str." und "Strasse" werden zu "Straße"
        z = z.replace("Str.", "Straße").replace("Strasse", "Straße")
        ergebnis.append(z)
    return ergebnis  # Reihenfolge bleibt erhalten
""", ["comments"])

mat("code_js_comments_ja", "code", "ja", """
// ユーザーの入力を検証する
function validateForm(form) {
  // メールアドレスが空の場合はエラー
  if (!form.email) return '必須項目です';
  // パスワードは8文字以上
  if (form.password.length < 8) return '短すぎます';
  return null; // 問題なし
}
""", ["comments"])

mat("csv_orders", "csv", "en", """
order_id,date,customer,country,items,total_eur,status
A-1001,2024-09-02,Lindgren AB,SE,3,412.50,shipped
A-1002,2024-09-02,Ortiz & Hijos,ES,1,89.00,cancelled
A-1003,2024-09-03,Maple Dental,CA,7,1290.75,shipped
A-1004,2024-09-05,Kowalski Sp. z o.o.,PL,2,240.00,pending
A-1005,2024-09-05,Lindgren AB,SE,4,505.20,shipped
A-1006,2024-09-06,Nakamura Shoten,JP,10,2210.00,shipped
A-1007,2024-09-08,Ortiz & Hijos,ES,2,178.00,returned
""", ["order ids", "customers", "totals", "countries", "statuses"])

mat("csv_sensors", "csv", "en", """
timestamp	sensor	temp_c	humidity_pct
2024-07-01T06:00	greenhouse-1	18.2	71
2024-07-01T09:00	greenhouse-1	24.9	58
2024-07-01T12:00	greenhouse-1	33.4	41
2024-07-01T06:00	greenhouse-2	17.6	75
2024-07-01T09:00	greenhouse-2	22.1	66
2024-07-01T12:00	greenhouse-2	29.8	49
""", ["readings", "sensors", "maximum temperature"])

mat("table_budget", "csv", "en", """
| Item              | Q1 budget | Q1 actual | Owner  |
|-------------------|----------:|----------:|--------|
| Cloud hosting     |   42,000  |   47,310  | Ravi   |
| Contractors       |   60,000  |   51,200  | Elena  |
| Conferences       |   15,000  |   18,900  | Marco  |
| Software licences |   22,000  |   21,450  | Ravi   |
""", ["items", "budgets", "actuals", "owners"])

mat("contract_saas", "contract", "en", """
7. Fees and Payment. Customer shall pay the annual subscription fee set out in the Order Form within thirty (30) days of the invoice date. Late payments bear interest at 1.5% per month or the maximum rate permitted by law, whichever is lower. Provider may suspend the Service if any amount is more than forty-five (45) days overdue, after giving ten (10) days' written notice.
8. Term and Renewal. The initial term is twelve (12) months from the Effective Date. The Agreement renews automatically for successive twelve-month terms unless either party gives notice of non-renewal at least sixty (60) days before the end of the then-current term. Provider may increase fees on renewal by no more than seven percent (7%).
9. Data. Provider will delete Customer Data within ninety (90) days after termination, except where retention is required by law. Customer may export its data at any time during the term and for thirty (30) days after termination.
10. Liability. Except for breach of confidentiality or indemnification obligations, each party's total liability is limited to the fees paid in the twelve (12) months preceding the claim.
""", ["deadlines", "percentages", "notice periods", "obligations"])

mat("contract_employment_de", "contract", "de", """
§ 3 Arbeitszeit. Die regelmäßige wöchentliche Arbeitszeit beträgt 38,5 Stunden. Die Verteilung auf die Wochentage richtet sich nach den betrieblichen Erfordernissen. Überstunden werden durch Freizeit ausgeglichen, soweit sie zehn Stunden im Monat übersteigen.
§ 4 Urlaub. Der Arbeitnehmer hat Anspruch auf 28 Arbeitstage Erholungsurlaub im Kalenderjahr. Der Urlaub ist bis zum 31. März des Folgejahres zu nehmen; danach verfällt er, sofern er nicht aus betrieblichen Gründen nicht genommen werden konnte.
§ 9 Kündigung. Nach Ablauf der Probezeit von sechs Monaten beträgt die Kündigungsfrist drei Monate zum Monatsende. Die Kündigung bedarf der Schriftform.
""", ["Arbeitszeit", "Urlaubstage", "Fristen"])

mat("contract_supplier_fr", "contract", "fr", """
Article 5 – Livraison. Le Fournisseur s'engage à livrer les marchandises dans un délai de quinze (15) jours ouvrés à compter de la réception du bon de commande. Tout retard supérieur à cinq (5) jours ouvrés donne lieu à une pénalité de 1 % du montant de la commande par jour de retard, plafonnée à 10 %.
Article 6 – Réception. L'Acheteur dispose de huit (8) jours à compter de la livraison pour signaler par écrit toute non-conformité. Passé ce délai, les marchandises sont réputées acceptées.
Article 7 – Paiement. Les factures sont payables à soixante (60) jours fin de mois. Aucun escompte n'est accordé en cas de paiement anticipé.
""", ["délais", "pénalités", "conditions de paiement"])

mat("email_quote", "email", "en", """
Hi Tomasz,

Thanks for the call yesterday. As discussed, here is our quote for the warehouse shelving project:

- 120 pallet racking bays, installed: €86,400
- Safety inspection and load certificates: €3,200
- Removal of the old mezzanine: €7,850

Lead time is six weeks from the signed order. The quote is valid until 30 June. We would need a 30% deposit on signature and the balance within 30 days of completion.

Let me know if you want us to price the optional second mezzanine as well.

Best,
Ingrid Solvang
Nordfix Storage Systems
""", ["line items and prices", "validity date", "lead time", "payment terms"])

mat("email_complaint", "email", "en", """
Subject: Order #55102 — wrong size AND late

Hello,

I ordered the trail running shoes in size 43 on 2 May for a race on the 18th. They arrived on the 16th — two days later than promised — and they're size 41. I've already paid €14.90 for express shipping. Your returns page says I have to pay for the return myself, which I don't think is fair since this was your mistake.

I'd like either the correct size delivered by Friday or a full refund including shipping.

Regards,
Camille Dubreuil
""", ["order number", "dates", "amounts", "what the customer wants"])

mat("email_es_proveedor", "email", "es", """
Estimado Sr. Herrera:

Le escribimos para informarle de que, debido a una avería en nuestra línea de envasado, el pedido n.º 7781 (2.400 botellas de aceite de oliva de 500 ml) no podrá enviarse el 12 de marzo como estaba previsto. Calculamos que el envío saldrá el 19 de marzo.

Como compensación, le ofrecemos un descuento del 5 % sobre el importe total del pedido o, si lo prefiere, el envío urgente sin coste adicional.

Le rogamos que nos indique qué opción prefiere antes del viernes.

Atentamente,
Lucía Marín
Almazara Sierra Sur
""", ["número de pedido", "fechas", "cantidades", "opciones de compensación"])

mat("article_transit", "article", "en", """
The city's new bus network, launched in September, has changed more than routes. Buses now arrive every ten minutes on twelve "frequent lines", up from four, while thirty low-ridership routes were merged or cut. Ridership in the first three months rose 9% compared with the same period last year, according to the transit agency, though officials caution that a fare freeze and a rainy autumn may explain part of the increase.

Not everyone is happy. Residents of the hillside neighbourhoods, where two routes were replaced by an on-demand shuttle, say waits of up to 40 minutes make the service unusable for commuting. The agency says it will add two vehicles to the shuttle fleet in January and publish wait-time data monthly.

The redesign cost about $4 million, mostly for new signs and driver training, and is budget-neutral to operate because the cut routes freed up buses for the frequent lines.
""", ["figures", "dates", "places", "claims"])

mat("article_de_bienen", "article", "de", """
In Brandenburg ist die Zahl der gemeldeten Bienenvölker im vergangenen Jahr um rund zwölf Prozent gestiegen. Das geht aus Zahlen des Landesamts für Landwirtschaft hervor. Vor allem in Städten wie Potsdam und Cottbus haben viele Menschen mit der Imkerei begonnen. Experten sehen die Entwicklung jedoch mit gemischten Gefühlen: Honigbienen konkurrieren mit Wildbienen um Nahrung, und in manchen Stadtteilen gebe es inzwischen mehr Völker, als das Blütenangebot tragen könne. Der Imkerverband empfiehlt deshalb, vor der Anschaffung eines Volkes einen Kurs zu besuchen und sich über das Nahrungsangebot in der Umgebung zu informieren.
""", ["Zahlen", "Orte", "Empfehlungen"])

mat("article_fr_velo", "article", "fr", """
À Lyon, la fréquentation des pistes cyclables a augmenté de 18 % en un an, selon les compteurs installés par la métropole. La hausse est la plus forte sur les quais du Rhône, où une voie a été retirée aux voitures au printemps. Les commerçants du centre-ville restent partagés : certains constatent davantage de passage à pied et à vélo, d'autres se plaignent de la difficulté de livraison. La métropole prévoit d'ouvrir 40 kilomètres de nouvelles voies d'ici 2026 et de créer 5 000 places de stationnement pour vélos près des gares.
""", ["chiffres", "lieux", "projets"])

mat("article_ja_tourism", "article", "ja", """
京都市は、観光客の集中による混雑を緩和するため、2025年春から市バスの一部路線で観光客向けの「観光特急バス」を運行すると発表した。京都駅と清水寺、銀閣寺を結ぶ路線で、運賃は通常の2倍の500円となる。市民が日常的に利用する路線の混雑を減らすことが目的で、市は初年度に約40万人の利用を見込んでいる。一方、一部の観光事業者からは「料金が高く、利用が進まないのではないか」との声も上がっている。
""", ["数字", "地名", "目的"])

mat("article_zh_ev", "article", "zh", """
据行业协会最新数据，今年前三季度全国新能源汽车销量同比增长约32%，占新车总销量的比例首次超过40%。其中，插电式混合动力车型增长最快，同比增幅接近80%。业内人士认为，充电设施的快速建设和购车补贴政策的延续是主要原因。但也有分析指出，部分二三线城市的充电桩利用率仍然偏低，电池回收体系尚不完善，行业在快速增长的同时也面临价格战带来的利润压力。
""", ["数据", "原因", "风险"])

mat("notes_standup", "notes", "en", """
Standup notes — Thursday
Aisha: finished the CSV import, PR is up; blocked on review from Leon.
Leon: on call this week, spent yesterday on the flaky payment test; will review Aisha's PR this afternoon.
Marta: design for the onboarding checklist is done; wants feedback by Monday. Out Friday.
Jun: investigating the slow dashboard query — it's the missing index on events(created_at). Migration ready, needs a maintenance window.
Decisions: ship the CSV import behind a flag next Tuesday; schedule the migration for Saturday 22:00 UTC.
Risks: if the migration slips, the dashboard stays slow for the sales kickoff on the 14th.
""", ["names and tasks", "decisions", "dates", "blockers"])

mat("notes_board_es", "notes", "es", """
Acta de la reunión de la junta de vecinos — 14 de octubre
Asistentes: 11 de 16 propietarios.
1. Ascensor: se aprueba por 9 votos a favor y 2 en contra sustituir el ascensor. Presupuesto elegido: Elevaciones Norte, 38.500 €, pagadero en 18 cuotas.
2. Fachada: se pospone la decisión hasta tener un segundo presupuesto. Responsable: el presidente, antes del 30 de noviembre.
3. Morosidad: el piso 3.º B debe 1.240 €. Se acuerda enviar un burofax.
4. Ruegos y preguntas: varios vecinos piden instalar un punto de carga para coches eléctricos en el garaje.
""", ["acuerdos", "importes", "votaciones", "responsables"])

mat("readme_cli", "readme", "en", """
# tidyphotos

Sort a messy photo folder into YEAR/MONTH directories using EXIF dates, with a dry-run mode and duplicate detection.

## Install
    pipx install tidyphotos

## Usage
    tidyphotos ~/Pictures/inbox --dest ~/Pictures/library --dry-run
    tidyphotos ~/Pictures/inbox --dest ~/Pictures/library --dedupe sha1

## Options
- `--dry-run`: print what would happen, change nothing
- `--dedupe {off,sha1,phash}`: skip exact (sha1) or near (perceptual hash) duplicates
- `--fallback-mtime`: use the file's modification time when EXIF is missing

## Known issues
- HEIC files need `pillow-heif`
- Videos are ignored
""", ["options", "install command", "known issues"])

mat("thread_review", "thread", "en", """
PR #882 "Cache exchange rates for 10 minutes"
@kenji: This adds a module-level dict as cache. Fine for one process, but we run 8 gunicorn workers, so each has its own copy and we'll hit the rates API 8x. Can we use Redis, which we already have?
@amara: Good point. Also there's no expiry at all — the description says 10 minutes but the code never evicts.
@dev-sam: Fair. I'll switch to Redis with SETEX 600 and add a test with a fake clock.
@kenji: Also please make the API failure path return the last known rate with a warning instead of raising.
@dev-sam: Done in 3f1e2a. Redis, 600 s TTL, stale fallback with a log line, tests added.
@amara: LGTM.
""", ["reviewers", "requests", "commits", "TTL"])

mat("thread_slack_incident", "thread", "en", """
#ops-alerts
09:12 PagerBot: [FIRING] checkout-latency-p95 > 2s (eu-central)
09:13 nina: looking
09:15 nina: p95 is 3.8s, only eu-central, started 09:05. no deploy since yesterday
09:18 omar: the payment provider's status page shows degraded performance in EU
09:21 nina: confirmed, 90% of the time is in their API. nothing we can do except the fallback
09:24 omar: switching EU traffic to the secondary provider via flag payments.provider.eu=secondary
09:31 nina: p95 back to 0.9s
09:55 PagerBot: [RESOLVED] checkout-latency-p95
10:02 nina: will write the incident note; also we should alert on provider latency directly
""", ["times", "people", "actions", "metrics"])

mat("reviews_hotel", "reviews", "en", """
"Great location, tiny rooms" ★★★☆☆ — Bea (Madrid), 3 nights: Five minutes from the station, staff were lovely, but the room was barely bigger than the bed and the shower leaked.
"Would stay again" ★★★★★ — Tom (Leeds), 1 night: Quiet, spotless, excellent breakfast. Check-in took 20 minutes though.
"Noisy" ★★☆☆☆ — Harald (Oslo), 2 nights: Room faced the street, bars until 3 am. Asked to move, no rooms available.
"Good value" ★★★★☆ — Mei (Singapore), 4 nights: Clean and cheap for the area. Wi-Fi dropped every evening.
""", ["ratings", "names", "complaints", "length of stay"])

mat("report_quarter", "report", "en", """
Q3 summary for the customer support team
Ticket volume rose to 18,420 (+11% vs Q2), driven by the billing migration in August, which alone generated 2,900 tickets. First-response time improved from 6.1 to 4.3 hours after we added weekend coverage, but resolution time worsened from 26 to 31 hours because billing tickets needed engineering input. Customer satisfaction was 87% (Q2: 89%). Self-service deflection reached 34% after the new help centre launched on 2 September. Headcount stayed at 22 agents; two left and two were hired. For Q4 we expect volume to fall back to about 16,000 and propose a dedicated billing queue with one engineer on rotation.
""", ["metrics", "dates", "headcount", "proposals"])

mat("story_lighthouse", "story", "en", """
The lighthouse keeper's daughter had never seen the mainland in daylight. Every crossing her father made was at dawn or dusk, when the sea was calm, and he always came back with the same things: flour, lamp oil, and one newspaper, already a week old. She read the papers in order, front page to last, and kept them in a trunk under her bed, so that by the age of twelve she knew the price of wool in three counties and the name of every ship lost that year. What she did not know was why her father never took her with him, and why, each time he returned, he checked the horizon twice before tying up the boat.
""", ["characters", "objects"])

mat("story_es_abuela", "story", "es", """
Mi abuela guardaba las llaves de todas las casas en las que había vivido. Eran diecisiete, colgadas de un clavo junto a la puerta de la cocina, y ninguna abría ya nada. Cuando le preguntábamos por qué las conservaba, contestaba que una casa no se termina de dejar mientras uno tenga la llave. El día que se mudó a la residencia, se llevó solo una maleta pequeña y el clavo, con las diecisiete llaves todavía colgadas.
""", ["personajes", "objetos", "números"])

mat("abstract_exercise", "abstract", "en", """
Objective: To assess whether a 12-week supervised resistance training programme improves physical function in adults aged 70 and over with mild cognitive impairment. Design: Multicentre randomised controlled trial. Participants: 212 community-dwelling adults (mean age 77.4 years). Intervention: Twice-weekly progressive resistance training (n = 106) versus stretching and balance sessions (n = 106). Main outcome: Short Physical Performance Battery (SPPB) score at 12 weeks. Results: The resistance group improved by 1.8 points versus 0.6 in the control group (adjusted difference 1.2, 95% CI 0.7 to 1.7). Falls were similar between groups (14 vs 17). No serious adverse events were attributed to training. Conclusion: Resistance training improved physical function; effects on cognition and long-term falls require further study.
""", ["population", "intervention", "outcomes", "effect sizes"])

mat("medical_letter", "medical", "en", """
Dear Dr Okoye,
Re: Ms Hannah Lutz, DOB 14/08/1961
I reviewed Ms Lutz in the diabetes clinic today. Her HbA1c has improved from 71 to 58 mmol/mol since starting semaglutide 0.5 mg weekly in March, and she has lost 6 kg. She reports mild nausea in the first two days after each injection, which is settling. Blood pressure 138/84. eGFR stable at 64.
Plan: increase semaglutide to 1 mg weekly; continue metformin 1 g twice daily; stop gliclazide to reduce the risk of hypoglycaemia now that glucose control has improved. Repeat HbA1c and renal function in 3 months. I have advised her to contact us if nausea becomes persistent or she develops abdominal pain.
Yours sincerely,
Dr P. Anand, Consultant Endocrinologist
""", ["medications and doses", "lab values", "plan items", "follow-up"])

mat("ui_strings_yaml", "ui", "en", """
en:
  onboarding:
    welcome: "Welcome aboard, %{name}!"
    step_count: "Step %{current} of %{total}"
    skip: "Skip for now"
  billing:
    trial_ends: "Your free trial ends in %{days} days."
    upgrade_cta: "Upgrade to keep your projects"
    card_expired: "The card ending in %{last4} has expired."
""", ["keys", "placeholders"])

mat("subtitles_fr", "subtitles", "fr", """
12
00:01:14,200 --> 00:01:16,900
Tu n'as pas fermé la porte à clé ?

13
00:01:17,100 --> 00:01:19,400
Je croyais que c'était toi.

14
00:01:19,800 --> 00:01:22,650
Alors qui a laissé la lumière allumée ?
""", ["timecodes", "lines"])

mat("policy_leave", "policy", "en", """
Parental and family leave policy (summary of rules)
R1. Employees with at least 6 months of service receive 16 weeks of paid parental leave; those with less receive 8 weeks.
R2. Parental leave must start within 12 months of the birth or adoption and may be split into at most two blocks.
R3. Carer's leave: up to 10 paid days per calendar year to care for a dependant; unused days do not carry over.
R4. Leave requests of more than 5 consecutive working days need 4 weeks' notice, except in emergencies.
R5. An employee on parental leave cannot take carer's leave at the same time.
""", ["rules", "durations", "notice periods"])

mat("policy_library", "policy", "en", """
Library lending rules
1. Members may borrow up to 8 items at once; children's cards are limited to 5.
2. Books are lent for 21 days, DVDs for 7 days. New releases (marked with a red label) are lent for 7 days whatever their format.
3. An item can be renewed twice, unless another member has reserved it.
4. Late fees: 20 cents per day per item, capped at the item's replacement cost. Children's cards pay no late fees.
5. Members with more than 10 € of unpaid fees cannot borrow until they pay.
""", ["limits", "loan periods", "fees"])

mat("recipe_curry", "recipe", "en", """
Chickpea and spinach curry (serves 4)
2 tbsp oil, 1 onion (chopped), 3 garlic cloves, 1 tbsp grated ginger, 2 tsp garam masala, 1 tsp cumin, 400 g tin chopped tomatoes, 2 × 400 g tins chickpeas (drained), 400 ml coconut milk, 200 g spinach, salt, juice of half a lime.
Fry the onion in the oil for 8 minutes until soft. Add garlic, ginger and spices and cook for 1 minute. Add tomatoes and simmer for 10 minutes, then the chickpeas and coconut milk for another 10. Stir in the spinach until wilted, season, and finish with lime juice. Serve with rice or flatbread.
""", ["ingredients and quantities", "cooking times"])

mat("invoice_text", "invoice", "en", """
INVOICE INV-2024-1183            Date: 28 October 2024
Bill to: Greenway Landscaping Ltd, 14 Mill Lane, Bristol BS1 4RT
Description                          Qty   Unit price    Amount
Hedge trimmer HT-550                  2      £189.00     £378.00
Replacement blades (pack of 3)        4       £24.50      £98.00
Service plan, 12 months               1      £120.00     £120.00
Subtotal £596.00   VAT 20% £119.20   Total due £715.20
Payment due within 30 days. Bank: Northbank, sort code 20-41-17, account 55012398.
""", ["invoice number", "line items", "totals", "due date"])

mat("chatlog_support", "chatlog", "en", """
[14:02] Customer: hi my internet keeps dropping every evening around 8
[14:03] Agent Lea: Sorry to hear that! Can you tell me the light colours on your router when it drops?
[14:05] Customer: the globe light goes orange then comes back after like 2 min
[14:06] Agent Lea: Thanks. I can see line errors on your connection between 19:50 and 21:00 over the last week.
[14:08] Agent Lea: I've booked an engineer for Thursday 10:00–14:00 and applied a 5 € credit.
[14:09] Customer: ok thanks, will someone call before coming?
[14:09] Agent Lea: Yes, 30 minutes before.
""", ["times", "symptoms", "actions", "appointment"])

mat("argument_ad", "argument", "en", """
Our new energy drink must be good for students: since we started selling it on campus, average exam grades have gone up. Also, 9 out of 10 students we asked at our stand said they like it. Finally, a famous athlete drinks it every day, and nobody becomes a champion by drinking something unhealthy.
""", ["claims"])

mat("pt_email_cliente", "email", "pt", """
Olá, equipe Vinhedo Online,

Fiz o pedido nº 30418 no dia 3 de junho (6 garrafas de vinho tinto, R$ 534,00). Recebi a caixa ontem, mas duas garrafas chegaram quebradas e o rótulo de outra está danificado. Envio fotos em anexo. Gostaria de receber as duas garrafas de reposição ou o reembolso de R$ 178,00.

Obrigado,
Rafael Nogueira
""", ["número do pedido", "valores", "problemas"])

mat("it_notice", "article", "it", """
Il Comune di Bologna informa che dal 1° marzo al 30 aprile il parcheggio di via Stalingrado sarà chiuso per lavori di ristrutturazione. Durante il periodo di chiusura, i titolari di abbonamento potranno utilizzare gratuitamente il parcheggio Tanari, collegato al centro da una navetta ogni 15 minuti dalle 7 alle 21. Gli abbonamenti in scadenza nel periodo saranno prorogati automaticamente di due mesi.
""", ["date", "luoghi", "servizi"])

mat("zh_email", "email", "zh", """
王经理您好：

感谢您上周的来访。关于贵公司提出的三项需求，我们的答复如下：第一，样品可以在本月20日前寄出；第二，首批订单最低数量为5000件，单价为每件12.8元；第三，付款方式可接受30%预付款，其余70%在发货前结清。如有其他问题，请随时与我联系。

祝好！
李娜
华东纺织有限公司
""", ["日期", "数量", "价格", "付款方式"])

mat("ko_notice", "article", "ko", """
서울시는 다음 달부터 심야 시간대 자율주행 버스를 두 개 노선으로 확대 운행한다고 밝혔다. 운행 시간은 밤 11시 30분부터 새벽 5시까지이며, 요금은 일반 심야버스보다 저렴한 1,200원이다. 시는 안전요원이 모든 차량에 탑승한다고 설명했다.
""", ["노선", "시간", "요금"])


# ---------------------------------------------------------------- programmatic variants

SERVICES = ["orders-api", "auth", "search", "billing", "inventory", "notifier", "gateway", "reports", "ingest", "media"]
ERRORS = [
    "connection refused to {host}:{port}",
    "timeout after {ms} ms calling {host}",
    "null value in column \"{col}\" violates not-null constraint",
    "rate limit exceeded for key {key}",
    "certificate has expired for {host}",
    "disk usage {pct}% on /var/lib/{svc}",
    "failed to parse message: unexpected token at offset {ms}",
    "worker {n} exited with signal SIGSEGV",
    "queue {svc}.jobs lag {n} messages",
    "permission denied opening /etc/{svc}/config.yaml",
]
LEVELS = ["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"]
HOSTS = ["db-primary", "redis-2", "payments.internal", "s3.eu-west-1.amazonaws.com", "10.1.4.22", "kafka-0"]
COLS = ["customer_id", "email", "created_at", "sku", "tenant"]


def gen_log(r: random.Random, lines=None):
    svc = r.choice(SERVICES)
    n = lines or r.randint(5, 14)
    h, m, s = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
    style = r.randint(0, 3)
    out = []
    for i in range(n):
        s += r.randint(0, 9)
        m += s // 60
        s %= 60
        h = (h + m // 60) % 24
        m %= 60
        lvl = r.choice(LEVELS)
        if lvl in ("WARN", "ERROR") or r.random() < 0.3:
            msg = r.choice(ERRORS).format(host=r.choice(HOSTS), port=r.choice([5432, 6379, 443, 9092]),
                                          ms=r.choice([500, 1500, 3000, 30000]), col=r.choice(COLS),
                                          key="k_" + str(r.randint(100, 999)), pct=r.randint(85, 99), svc=svc,
                                          n=r.randint(2, 5000))
        else:
            msg = r.choice(["request completed in {ms} ms", "started job {n}", "health check ok",
                            "cache hit ratio 0.{n}", "processed {n} records", "listening on :{port}"]).format(
                ms=r.randint(3, 900), n=r.randint(10, 99), port=r.choice([8080, 9000, 3000]))
        if style == 0:
            out.append(f"2024-{r.randint(1,12):02d}-{r.randint(1,28):02d}T{h:02d}:{m:02d}:{s:02d}Z {lvl:5s} [{svc}] {msg}")
        elif style == 1:
            out.append(f"[{h:02d}:{m:02d}:{s:02d}] {lvl} {svc}: {msg}")
        elif style == 2:
            out.append('{"ts":"%02d:%02d:%02d","level":"%s","svc":"%s","msg":"%s"}' % (h, m, s, lvl.lower(), svc, msg.replace('"', "'")))
        else:
            out.append(f"{lvl[0]}{r.randint(1000,9999)} {h:02d}:{m:02d}:{s:02d}.{r.randint(0,999999):06d} {r.randint(1,99)} {svc}.go:{r.randint(10,400)}] {msg}")
    return "\n".join(out)


FIRST = ["Ana", "Ben", "Chiara", "Dmitri", "Emeka", "Fatou", "Goran", "Hiro", "Ines", "Jonas", "Kavya", "Lars", "Mina", "Nuno",
         "Olga", "Pedro", "Qiu", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zofia"]
LAST = ["Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kim", "Lopez", "Moreau", "Novak",
        "Okafor", "Petrov", "Quinn", "Rossi", "Sato", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang"]
CITIES = ["Lisbon", "Porto", "Lyon", "Kraków", "Osaka", "Valencia", "Leipzig", "Turin", "Curitiba", "Gdańsk", "Seville", "Utrecht"]


def gen_csv(r: random.Random):
    kind = r.randint(0, 3)
    rows = r.randint(4, 10)
    sep = r.choice([",", ",", ";", "\t"])
    if kind == 0:
        head = ["name", "city", "signup_date", "plan", "mrr"]
        body = [[f"{r.choice(FIRST)} {r.choice(LAST)}", r.choice(CITIES), f"2024-{r.randint(1,12):02d}-{r.randint(1,28):02d}",
                 r.choice(["free", "pro", "team"]), str(r.choice([0, 12, 29, 99, 149]))] for _ in range(rows)]
    elif kind == 1:
        head = ["sku", "product", "stock", "unit_cost", "warehouse"]
        body = [[f"SKU-{r.randint(1000,9999)}", r.choice(["desk lamp", "office chair", "USB-C hub", "monitor arm", "notebook A5", "label printer"]),
                 str(r.randint(0, 500)), f"{r.uniform(2, 300):.2f}", r.choice(["MAD1", "BER2", "WAW1"])] for _ in range(rows)]
    elif kind == 2:
        head = ["week", "visits", "signups", "conversion_pct"]
        body = []
        for w in range(1, rows + 1):
            v = r.randint(800, 9000)
            sgn = r.randint(10, 400)
            body.append([str(w), str(v), str(sgn), f"{100*sgn/v:.2f}"])
    else:
        head = ["date", "account", "description", "debit", "credit"]
        body = [[f"2024-{r.randint(1,12):02d}-{r.randint(1,28):02d}", r.choice(["4000", "4100", "6200", "1200"]),
                 r.choice(["Office rent", "Client payment", "Software", "Travel", "Refund"]),
                 f"{r.uniform(0, 2500):.2f}" if r.random() < .5 else "", f"{r.uniform(0, 9000):.2f}" if r.random() < .5 else ""]
                for _ in range(rows)]
    return "\n".join(sep.join(x) for x in [head] + body)


PY_FUNCS = [
    ("def average(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total / len(xs)\n", "python"),
    ("def read_config(path):\n    f = open(path)\n    data = json.load(f)\n    return data['settings']\n", "python"),
    ("def find_user(users, email):\n    for u in users:\n        if u.email == email:\n            return u\n        else:\n            return None\n", "python"),
    ("async function loadAll(ids) {\n  const out = [];\n  ids.forEach(async (id) => {\n    out.push(await fetchItem(id));\n  });\n  return out;\n}\n", "javascript"),
    ("SELECT customer, SUM(amount)\nFROM payments\nWHERE status = 'paid'\nORDER BY 2 DESC;\n", "sql"),
    ("for i in $(ls *.csv); do\n  wc -l $i\ndone\n", "bash"),
    ("public int sum(List<Integer> xs) {\n    int s = 0;\n    for (int i = 0; i <= xs.size(); i++) s += xs.get(i);\n    return s;\n}\n", "java"),
    ("fn first_word(s: &String) -> &str {\n    let bytes = s.as_bytes();\n    for (i, &b) in bytes.iter().enumerate() {\n        if b == b' ' { return &s[0..i]; }\n    }\n    &s[..]\n}\n", "rust"),
    ("func Sum(m map[string]int) int {\n\tvar total int\n\tfor _, v := range m {\n\t\ttotal += v\n\t}\n\treturn total\n}\n", "go"),
    ("const total = items.reduce((acc, it) => acc + it.price * it.qty);\n", "javascript"),
    ("df = pd.read_csv('sales.csv')\ndf['month'] = df['date'].str[:7]\nprint(df.groupby('month').revenue.sum().sort_values())\n", "python"),
    ("#include <stdio.h>\nint main(void) {\n    int a[5];\n    for (int i = 0; i <= 5; i++) a[i] = i * i;\n    printf(\"%d\\n\", a[5]);\n}\n", "c"),
]


def gen_code(r: random.Random):
    code, lang = r.choice(PY_FUNCS)
    return code.rstrip("\n"), lang
