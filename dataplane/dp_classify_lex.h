/*
 * dp_classify_lex.h — the classifier's built-in multilingual lexicon (included by dp_classify.c
 * only). Each entry maps a word to one or more concepts; the classifier then emits concept
 * features next to the word's own, so "resúmelo", "zusammenfassen", "要約して" and "summarise"
 * share evidence even where the training data has few examples in a language.
 *
 * Entries are written lower-case; accents are folded at build time by the same code that folds
 * the prompt (é → e, ü → u, ß → s), so "ubersetz*" matches "Übersetze". A trailing '*' makes a
 * prefix entry (the word starts with it; prefixes of 3 to 12 letters). Entries made only of
 * CJK/kana/Hangul characters match runs of 1 to 3 consecutive such characters. A word listed
 * under several concepts gets all of them.
 *
 * Changing this table changes the features: bump DP_CLASSIFY_FEATURE_VERSION and retrain.
 */
#ifndef DP_CLASSIFY_LEX_H
#define DP_CLASSIFY_LEX_H

/* Concepts (bit positions). Task-deliverable concepts first: the conjunction features use the
 * first two of these found in the instruction's first/last sentences. */
enum {
    C_SUMM = 0, /* condense: summarise, TL;DR, resumir, zusammenfassen, 要約, 总结 */
    C_TRANS,    /* translate, localise */
    C_EXTR,     /* extract, pull out */
    C_CODEV,    /* fix, debug, implement, refactor */
    C_CODEN,    /* code, function, script, query, API */
    C_PLANG,    /* programming languages, tools */
    C_MATHV,    /* solve, calculate, prove */
    C_MATHN,    /* equation, integral, probability */
    C_REAS,     /* puzzle, riddle, logic, rules, fallacy */
    C_WRITEV,   /* write, draft, compose */
    C_WRITEN,   /* poem, story, email, speech, post */
    C_EDIT,     /* rewrite, rephrase, proofread, polish */
    C_EXPLAIN,  /* explain, describe, compare */
    C_RESEARCH, /* history, evidence, literature, studies */
    C_GREET,    /* hi, thanks, hola, danke, こんにちは, lol */
    C_EMO,      /* sad, lonely, anxious, excited */
    C_CONVO,    /* talk, chat, role-play, practise, pretend */
    C_TASK_CONCEPTS,
    C_LANG = C_TASK_CONCEPTS, /* language names */
    C_FMT,                    /* JSON, CSV, table, fields */
    C_QWORD,                  /* what, why, how, qué, warum, なぜ */
    C_POLITE,                 /* please, could you, bitte, ください */
    C_HARD,                   /* rigorous, production, comprehensive, clinical */
    C_EASY,                   /* quick, simple, one line, kurz */
    C_CONSTR,                 /* must, exactly, at most, words, without */
    C_REF,                    /* below, following, attached, 以下 */
    C_LOGN,                   /* log, trace, error, exception */
    C_DOCN,                   /* article, contract, report, thread */
    C_COUNT
};

typedef struct {
    const char *w;
    unsigned char c;
} dp_lex_entry_t;

/* A data table, kept a dozen entries per line. */
/* clang-format off */
static const dp_lex_entry_t dp_lex[] = {
    /* ---- summarise */
    {"summar*", C_SUMM}, {"tldr", C_SUMM}, {"tl", C_SUMM}, {"condens*", C_SUMM}, {"recap*", C_SUMM},
    {"gist", C_SUMM}, {"synops*", C_SUMM}, {"digest", C_SUMM}, {"briefing", C_SUMM}, {"resum*", C_SUMM},
    {"riassum*", C_SUMM}, {"sintetiz*", C_SUMM}, {"zusammenfass*", C_SUMM}, {"kurzfass*", C_SUMM},
    {"samenvat*", C_SUMM}, {"podsumuj*", C_SUMM}, {"sommario", C_SUMM}, {"nutshell", C_SUMM},
    {"takeaways", C_SUMM}, {"highlights", C_SUMM}, {"recapitul*", C_SUMM}, {"fasse", C_SUMM}, {"fass", C_SUMM},
    {"要約", C_SUMM}, {"まとめ", C_SUMM}, {"概要", C_SUMM}, {"总结", C_SUMM}, {"總結", C_SUMM}, {"摘要", C_SUMM},
    {"概括", C_SUMM}, {"归纳", C_SUMM}, {"概述", C_SUMM}, {"요약", C_SUMM}, {"정리", C_SUMM},
    {"кратк*", C_SUMM}, {"резюм*", C_SUMM}, {"суммир*", C_SUMM},
    /* ---- translate */
    {"translat*", C_TRANS}, {"tradu*", C_TRANS}, {"ubersetz*", C_TRANS}, {"uebersetz*", C_TRANS},
    {"vertaal*", C_TRANS}, {"vertal*", C_TRANS}, {"przetlumacz*", C_TRANS}, {"locali*", C_TRANS},
    {"lokalis*", C_TRANS}, {"transcreat*", C_TRANS}, {"subtit*", C_TRANS}, {"untertitel*", C_TRANS},
    {"sous-titr*", C_TRANS}, {"sottotitol*", C_TRANS}, {"legendas", C_TRANS},
    {"翻訳", C_TRANS}, {"訳し", C_TRANS}, {"訳す", C_TRANS}, {"和訳", C_TRANS}, {"英訳", C_TRANS},
    {"翻译", C_TRANS}, {"翻譯", C_TRANS}, {"译成", C_TRANS}, {"譯成", C_TRANS}, {"번역", C_TRANS},
    {"перевед*", C_TRANS}, {"перевод*", C_TRANS}, {"переве*", C_TRANS},
    /* ---- language names (also the target of "into …") */
    {"english", C_LANG}, {"spanish", C_LANG}, {"german", C_LANG}, {"french", C_LANG}, {"italian", C_LANG},
    {"portuguese", C_LANG}, {"japanese", C_LANG}, {"chinese", C_LANG}, {"mandarin", C_LANG},
    {"cantonese", C_LANG}, {"korean", C_LANG}, {"russian", C_LANG}, {"dutch", C_LANG}, {"polish", C_LANG},
    {"swedish", C_LANG}, {"norwegian", C_LANG}, {"danish", C_LANG}, {"finnish", C_LANG}, {"turkish", C_LANG},
    {"arabic", C_LANG}, {"hebrew", C_LANG}, {"hindi", C_LANG}, {"greek", C_LANG}, {"czech", C_LANG},
    {"ukrainian", C_LANG}, {"vietnamese", C_LANG}, {"thai", C_LANG}, {"indonesian", C_LANG},
    {"catalan", C_LANG}, {"romanian", C_LANG}, {"hungarian", C_LANG}, {"swahili", C_LANG},
    {"ingles", C_LANG}, {"espanol", C_LANG}, {"castellano", C_LANG}, {"aleman", C_LANG}, {"frances", C_LANG},
    {"italiano", C_LANG}, {"portugues", C_LANG}, {"japones", C_LANG}, {"chino", C_LANG}, {"coreano", C_LANG},
    {"ruso", C_LANG}, {"neerlandes", C_LANG}, {"holandes", C_LANG}, {"englisch*", C_LANG},
    {"spanisch*", C_LANG}, {"deutsch*", C_LANG}, {"franzosisch*", C_LANG}, {"italienisch*", C_LANG},
    {"portugiesisch*", C_LANG}, {"japanisch*", C_LANG}, {"chinesisch*", C_LANG}, {"koreanisch*", C_LANG},
    {"russisch*", C_LANG}, {"niederlandisch*", C_LANG}, {"anglais", C_LANG}, {"espagnol", C_LANG},
    {"allemand", C_LANG}, {"francais", C_LANG}, {"italien", C_LANG}, {"portugais", C_LANG},
    {"japonais", C_LANG}, {"chinois", C_LANG}, {"coreen", C_LANG}, {"russe", C_LANG}, {"neerlandais", C_LANG},
    {"espanhol", C_LANG}, {"alemao", C_LANG}, {"chines", C_LANG}, {"russo", C_LANG}, {"brasileiro", C_LANG},
    {"inglese", C_LANG}, {"spagnolo", C_LANG}, {"tedesco", C_LANG}, {"francese", C_LANG},
    {"portoghese", C_LANG}, {"giapponese", C_LANG}, {"cinese", C_LANG}, {"olandese", C_LANG},
    {"英語", C_LANG}, {"日本語", C_LANG}, {"中国語", C_LANG}, {"韓国語", C_LANG}, {"ツ語", C_LANG}, {"ス語", C_LANG},
    {"ン語", C_LANG}, {"ア語", C_LANG}, {"英语", C_LANG}, {"英文", C_LANG}, {"中文", C_LANG}, {"日语", C_LANG},
    {"日文", C_LANG}, {"德语", C_LANG}, {"法语", C_LANG}, {"牙语", C_LANG}, {"韩语", C_LANG}, {"俄语", C_LANG},
    {"意大利", C_LANG}, {"영어", C_LANG}, {"국어", C_LANG}, {"본어", C_LANG}, {"английск*", C_LANG},
    {"немецк*", C_LANG}, {"французск*", C_LANG}, {"испанск*", C_LANG}, {"русск*", C_LANG},
    /* ---- extract; output structures */
    {"extract*", C_EXTR}, {"extrae*", C_EXTR}, {"extraer", C_EXTR}, {"extraiga", C_EXTR}, {"extrai*", C_EXTR},
    {"extrah*", C_EXTR}, {"estrai*", C_EXTR}, {"estrarr*", C_EXTR}, {"haal", C_EXTR}, {"herausziehen", C_EXTR},
    {"saca", C_EXTR}, {"sacar", C_EXTR}, {"抽出", C_EXTR}, {"抜き出", C_EXTR},
    {"取り出", C_EXTR}, {"提取", C_EXTR}, {"抽取", C_EXTR}, {"추출", C_EXTR}, {"извлек*", C_EXTR},
    {"выпиши*", C_EXTR},
    {"json", C_FMT}, {"yaml", C_FMT}, {"csv", C_FMT}, {"tsv", C_FMT}, {"xml", C_FMT}, {"table", C_FMT},
    {"tabla", C_FMT}, {"tabelle", C_FMT}, {"tableau", C_FMT}, {"tabella", C_FMT}, {"tabela", C_FMT},
    {"spreadsheet", C_FMT}, {"column*", C_FMT}, {"columna*", C_FMT}, {"spalte*", C_FMT}, {"colonne*", C_FMT},
    {"colonna*", C_FMT}, {"coluna*", C_FMT}, {"schema", C_FMT}, {"esquema", C_FMT}, {"fields", C_FMT},
    {"field", C_FMT}, {"campos", C_FMT}, {"felder", C_FMT}, {"champs", C_FMT}, {"campi", C_FMT},
    {"markdown", C_FMT}, {"bullet*", C_FMT}, {"表格", C_FMT}, {"一覧", C_FMT}, {"字段", C_FMT}, {"項目", C_FMT},
    {"列表", C_FMT},
    /* ---- code: verbs, nouns, languages and tools */
    {"debug*", C_CODEV}, {"refactor*", C_CODEV}, {"implement*", C_CODEV}, {"compil*", C_CODEV},
    {"deploy*", C_CODEV}, {"optimiz*", C_CODEV}, {"optimis*", C_CODEV}, {"fix*", C_CODEV}, {"bugfix", C_CODEV},
    {"arregl*", C_CODEV}, {"corrig*", C_CODEV}, {"correg*", C_CODEV}, {"repar*", C_CODEV}, {"beheb*", C_CODEV},
    {"korrigier*", C_CODEV}, {"reparier*", C_CODEV}, {"implementa*", C_CODEV}, {"programar", C_CODEV},
    {"programmier*", C_CODEV}, {"migrat*", C_CODEV}, {"vectoriz*", C_CODEV}, {"parallel*", C_CODEV},
    {"修正", C_CODEV}, {"直し", C_CODEV}, {"実装", C_CODEV}, {"デバッグ", C_CODEV}, {"リファク", C_CODEV},
    {"修复", C_CODEV}, {"调试", C_CODEV}, {"实现", C_CODEV}, {"重构", C_CODEV}, {"优化", C_CODEV},
    {"고쳐", C_CODEV}, {"구현", C_CODEV}, {"디버그", C_CODEV},
    {"manifest", C_CODEN}, {"manifests", C_CODEN}, {"code", C_CODEN}, {"codes", C_CODEN}, {"codigo", C_CODEN}, {"coding", C_CODEN}, {"codice", C_CODEN},
    {"func*", C_CODEN}, {"funktion*", C_CODEN}, {"fonction*", C_CODEN}, {"funzion*", C_CODEN}, {"script*", C_CODEN},
    {"query", C_CODEN}, {"queries", C_CODEN}, {"consulta", C_CODEN}, {"regex*", C_CODEN}, {"regexp", C_CODEN},
    {"api", C_CODEN}, {"apis", C_CODEN}, {"endpoint*", C_CODEN}, {"class", C_CODEN}, {"classes", C_CODEN},
    {"method*", C_CODEN}, {"metodo*", C_CODEN}, {"variable*", C_CODEN}, {"compiler", C_CODEN}, {"bug", C_CODEN},
    {"bugs", C_CODEN}, {"docker*", C_CODEN}, {"kubernet*", C_CODEN}, {"container*", C_CODEN},
    {"database*", C_CODEN}, {"datenbank*", C_CODEN}, {"repo", C_CODEN}, {"repository", C_CODEN},
    {"git", C_CODEN}, {"commit*", C_CODEN}, {"branch*", C_CODEN}, {"npm", C_CODEN}, {"pip", C_CODEN},
    {"librar*", C_CODEN}, {"framework*", C_CODEN}, {"backend", C_CODEN}, {"frontend", C_CODEN},
    {"server*", C_CODEN}, {"algorithm*", C_CODEN}, {"algoritm*", C_CODEN}, {"array*", C_CODEN},
    {"string*", C_CODEN}, {"loop*", C_CODEN}, {"recursi*", C_CODEN}, {"thread*", C_CODEN}, {"async", C_CODEN},
    {"hook*", C_CODEN}, {"component*", C_CODEN}, {"cli", C_CODEN}, {"shell", C_CODEN}, {"terminal", C_CODEN},
    {"command*", C_CODEN}, {"comando*", C_CODEN}, {"befehl*", C_CODEN}, {"commande*", C_CODEN},
    {"program", C_CODEN}, {"programs", C_CODEN}, {"programm*", C_CODEN}, {"software", C_CODEN},
    {"unittest*", C_CODEN}, {"test", C_CODEN}, {"tests", C_CODEN}, {"dockerfile", C_CODEN},
    {"config*", C_CODEN}, {"pipeline*", C_CODEN}, {"crash*", C_CODEN},
    {"segfault*", C_CODEN}, {"syntax*", C_CODEN}, {"sintaxis", C_CODEN}, {"compile", C_CODEN},
    {"コード", C_CODEN}, {"関数", C_CODEN}, {"プログラ", C_CODEN}, {"スクリプ", C_CODEN}, {"代码", C_CODEN},
    {"程序", C_CODEN}, {"脚本", C_CODEN}, {"接口", C_CODEN}, {"数据库", C_CODEN}, {"バグ", C_CODEN},
    {"コマンド", C_CODEN}, {"クエリ", C_CODEN}, {"코드", C_CODEN}, {"함수", C_CODEN},
    {"python*", C_PLANG}, {"javascript", C_PLANG}, {"typescript", C_PLANG}, {"java", C_PLANG},
    {"kotlin", C_PLANG}, {"swift", C_PLANG}, {"rust", C_PLANG}, {"golang", C_PLANG}, {"cpp", C_PLANG},
    {"csharp", C_PLANG}, {"ruby", C_PLANG}, {"php", C_PLANG}, {"perl", C_PLANG}, {"scala", C_PLANG},
    {"haskell", C_PLANG}, {"elixir", C_PLANG}, {"lua", C_PLANG}, {"matlab", C_PLANG}, {"bash", C_PLANG},
    {"zsh", C_PLANG}, {"powershell", C_PLANG}, {"sql", C_PLANG}, {"postgres*", C_PLANG}, {"mysql", C_PLANG},
    {"sqlite", C_PLANG}, {"mongodb", C_PLANG}, {"redis", C_PLANG}, {"react", C_PLANG}, {"vue", C_PLANG},
    {"angular", C_PLANG}, {"django", C_PLANG}, {"flask", C_PLANG}, {"fastapi", C_PLANG}, {"rails", C_PLANG}, {"node", C_PLANG}, {"nodejs", C_PLANG}, {"pandas", C_PLANG}, {"numpy", C_PLANG},
    {"pytorch", C_PLANG}, {"tensorflow", C_PLANG}, {"jest", C_PLANG}, {"pytest", C_PLANG}, {"junit", C_PLANG},
    {"html", C_PLANG}, {"css", C_PLANG}, {"terraform", C_PLANG}, {"ansible", C_PLANG}, {"nginx", C_PLANG},
    {"linux", C_PLANG}, {"llvm", C_PLANG}, {"cuda", C_PLANG}, {"cobol", C_PLANG}, {"fortran", C_PLANG},
    {"webpack", C_PLANG}, {"kafka", C_PLANG}, {"graphql", C_PLANG}, {"jquery", C_PLANG}, {"npm", C_PLANG},
    {"vba", C_PLANG}, {"excel", C_PLANG}, {"c", C_PLANG},
    /* ---- math */
    {"solve", C_MATHV}, {"solves", C_MATHV}, {"solving", C_MATHV}, {"calculat*", C_MATHV}, {"calcul*", C_MATHV},
    {"calcol*", C_MATHV}, {"berechn*", C_MATHV}, {"compute", C_MATHV}, {"computing", C_MATHV},
    {"prove", C_MATHV}, {"proves", C_MATHV}, {"proving", C_MATHV}, {"proof", C_MATHV}, {"proofs", C_MATHV},
    {"demuestr*", C_MATHV}, {"demostr*", C_MATHV}, {"demontr*", C_MATHV}, {"dimostr*", C_MATHV},
    {"prouv*", C_MATHV}, {"beweis*", C_MATHV}, {"derive", C_MATHV}, {"simplif*", C_MATHV},
    {"differentiat*", C_MATHV}, {"factori*", C_MATHV}, {"resuelv*", C_MATHV}, {"losen", C_MATHV}, {"計算", C_MATHV}, {"计算", C_MATHV}, {"証明", C_MATHV}, {"证明", C_MATHV}, {"求め", C_MATHV},
    {"求解", C_MATHV}, {"解け", C_MATHV}, {"解い", C_MATHV}, {"계산", C_MATHV}, {"증명", C_MATHV},
    {"equation*", C_MATHN}, {"ecuaci*", C_MATHN}, {"gleichung*", C_MATHN}, {"equazion*", C_MATHN},
    {"equac*", C_MATHN}, {"integral*", C_MATHN}, {"derivativ*", C_MATHN}, {"derivada*", C_MATHN},
    {"derivata*", C_MATHN}, {"ableitung*", C_MATHN}, {"matrix*", C_MATHN}, {"matric*", C_MATHN},
    {"probabil*", C_MATHN}, {"wahrscheinlich*", C_MATHN}, {"eigen*", C_MATHN}, {"theorem*", C_MATHN},
    {"teorema*", C_MATHN}, {"lemma", C_MATHN}, {"prime", C_MATHN}, {"primes", C_MATHN}, {"primo*", C_MATHN},
    {"polynom*", C_MATHN}, {"fraction*", C_MATHN}, {"fraccion*", C_MATHN}, {"percent*", C_MATHN},
    {"porcentaje", C_MATHN}, {"prozent*", C_MATHN}, {"pourcent*", C_MATHN}, {"perimet*", C_MATHN},
    {"triangle*", C_MATHN}, {"geometr*", C_MATHN}, {"algebra*", C_MATHN}, {"calculus", C_MATHN},
    {"variance", C_MATHN}, {"modulo", C_MATHN}, {"divisible", C_MATHN}, {"inequalit*", C_MATHN},
    {"logarithm*", C_MATHN}, {"sqrt", C_MATHN}, {"radius", C_MATHN}, {"hypoten*", C_MATHN},
    {"factorial*", C_MATHN}, {"integer*", C_MATHN}, {"sum", C_MATHN}, {"average", C_MATHN},
    {"median", C_MATHN}, {"marbles", C_MATHN},
    {"確率", C_MATHN}, {"概率", C_MATHN}, {"方程", C_MATHN}, {"素数", C_MATHN}, {"整数", C_MATHN},
    {"面积", C_MATHN}, {"面積", C_MATHN}, {"周长", C_MATHN}, {"分数", C_MATHN}, {"平方", C_MATHN},
    {"因数", C_MATHN}, {"積分", C_MATHN}, {"积分", C_MATHN}, {"微分", C_MATHN}, {"方程式", C_MATHN},
    {"확률", C_MATHN}, {"방정식", C_MATHN},
    /* ---- reasoning */
    {"valid", C_REAS}, {"invalid", C_REAS}, {"validity", C_REAS}, {"puzzle*", C_REAS}, {"riddle*", C_REAS}, {"teaser*", C_REAS}, {"ratsel*", C_REAS}, {"acertijo*", C_REAS},
    {"adivinanz*", C_REAS}, {"enigma*", C_REAS}, {"indovinell*", C_REAS}, {"charada*", C_REAS},
    {"devinette*", C_REAS}, {"logic*", C_REAS}, {"logik*", C_REAS}, {"logica*", C_REAS}, {"logique*", C_REAS},
    {"deduc*", C_REAS}, {"deduz*", C_REAS}, {"dedui*", C_REAS}, {"premise*", C_REAS}, {"premis*", C_REAS},
    {"syllogism*", C_REAS}, {"fallac*", C_REAS}, {"falacia*", C_REAS}, {"fehlschluss*", C_REAS},
    {"sophism*", C_REAS}, {"liar*", C_REAS}, {"knight*", C_REAS}, {"knave*", C_REAS}, {"rule", C_REAS},
    {"rules", C_REAS}, {"regla*", C_REAS}, {"regel*", C_REAS}, {"regle*", C_REAS}, {"regola*", C_REAS},
    {"regole", C_REAS}, {"regra*", C_REAS}, {"allowed", C_REAS}, {"permitted", C_REAS}, {"eligible", C_REAS},
    {"entitled", C_REAS}, {"counterfactual*", C_REAS}, {"causation", C_REAS}, {"necessary", C_REAS},
    {"sufficient", C_REAS}, {"consistent", C_REAS}, {"contradict*", C_REAS},
    {"whodunit", C_REAS}, {"seating", C_REAS}, {"schedule*", C_REAS}, {"rota", C_REAS},
    {"謎", C_REAS}, {"なぞ", C_REAS}, {"推理", C_REAS}, {"論理", C_REAS}, {"谜", C_REAS}, {"谜语", C_REAS},
    {"逻辑", C_REAS}, {"规则", C_REAS}, {"規則", C_REAS}, {"規程", C_REAS}, {"嘘つき", C_REAS},
    {"正直者", C_REAS}, {"真话", C_REAS}, {"논리", C_REAS},
    /* ---- writing */
    {"write", C_WRITEV}, {"writes", C_WRITEV}, {"writing", C_WRITEV}, {"wrote", C_WRITEV}, {"escrib*", C_WRITEV},
    {"escrev*", C_WRITEV}, {"escreva", C_WRITEV}, {"schreib*", C_WRITEV}, {"verfass*", C_WRITEV},
    {"ecri*", C_WRITEV}, {"redig*", C_WRITEV}, {"redact*", C_WRITEV}, {"scriv*", C_WRITEV},
    {"compose", C_WRITEV}, {"draft*", C_WRITEV}, {"entwirf", C_WRITEV}, {"formulier*", C_WRITEV},
    {"craft", C_WRITEV}, {"brainstorm*", C_WRITEV}, {"書いて", C_WRITEV}, {"書く", C_WRITEV}, {"書き", C_WRITEV},
    {"作成", C_WRITEV}, {"写一", C_WRITEV}, {"写个", C_WRITEV}, {"写篇", C_WRITEV}, {"写首", C_WRITEV},
    {"写封", C_WRITEV}, {"写段", C_WRITEV}, {"写作", C_WRITEV}, {"撰写", C_WRITEV}, {"작성", C_WRITEV}, {"써줘", C_WRITEV}, {"напиши*", C_WRITEV},
    {"poem*", C_WRITEN}, {"poema*", C_WRITEN}, {"gedicht*", C_WRITEN}, {"poeme*", C_WRITEN},
    {"poesia", C_WRITEN}, {"poesie", C_WRITEN}, {"haiku*", C_WRITEN}, {"sonnet*", C_WRITEN},
    {"soneto*", C_WRITEN}, {"sonett*", C_WRITEN}, {"limerick*", C_WRITEN}, {"villanelle*", C_WRITEN},
    {"lyric*", C_WRITEN}, {"song*", C_WRITEN}, {"cancion*", C_WRITEN}, {"story", C_WRITEN},
    {"stories", C_WRITEN}, {"cuento*", C_WRITEN}, {"relato*", C_WRITEN}, {"kurzgeschichte*", C_WRITEN},
    {"racconto*", C_WRITEN}, {"conto", C_WRITEN}, {"contos", C_WRITEN}, {"novel*", C_WRITEN},
    {"essay*", C_WRITEN}, {"ensayo*", C_WRITEN}, {"aufsatz*", C_WRITEN}, {"email*", C_WRITEN},
    {"mail", C_WRITEN}, {"correo*", C_WRITEN}, {"letter*", C_WRITEN}, {"carta*", C_WRITEN},
    {"lettre*", C_WRITEN}, {"speech*", C_WRITEN}, {"discurso*", C_WRITEN}, {"discours*", C_WRITEN},
    {"discorso*", C_WRITEN}, {"rede", C_WRITEN}, {"toast*", C_WRITEN}, {"brindis*", C_WRITEN},
    {"post", C_WRITEN}, {"posts", C_WRITEN}, {"tweet*", C_WRITEN}, {"tuit*", C_WRITEN}, {"caption*", C_WRITEN},
    {"legenda", C_WRITEN}, {"slogan*", C_WRITEN}, {"tagline*", C_WRITEN}, {"headline*", C_WRITEN},
    {"blog*", C_WRITEN}, {"anuncio*", C_WRITEN}, {"werbe*", C_WRITEN}, {"pitch*", C_WRITEN},
    {"invitation*", C_WRITEN}, {"invito", C_WRITEN}, {"einladung*", C_WRITEN}, {"invitacion*", C_WRITEN},
    {"convite", C_WRITEN}, {"dialogue*", C_WRITEN}, {"screenplay*", C_WRITEN}, {"monolog*", C_WRITEN},
    {"fable*", C_WRITEN}, {"fabel*", C_WRITEN}, {"newsletter*", C_WRITEN}, {"copywriting", C_WRITEN}, {"bio", C_WRITEN}, {"eulogy", C_WRITEN}, {"ads", C_WRITEN},
    {"詩", C_WRITEN}, {"诗", C_WRITEN}, {"物語", C_WRITEN}, {"小説", C_WRITEN}, {"エッセイ", C_WRITEN},
    {"スピーチ", C_WRITEN}, {"メール", C_WRITEN}, {"手紙", C_WRITEN}, {"コピー", C_WRITEN}, {"小说", C_WRITEN},
    {"故事", C_WRITEN}, {"邮件", C_WRITEN}, {"演讲", C_WRITEN}, {"文案", C_WRITEN}, {"祝福", C_WRITEN},
    {"朋友圈", C_WRITEN}, {"소설", C_WRITEN}, {"이메일", C_WRITEN}, {"편지", C_WRITEN},
    {"rewrit*", C_EDIT}, {"rephras*", C_EDIT}, {"paraphras*", C_EDIT}, {"reword*", C_EDIT},
    {"proofread*", C_EDIT}, {"polish", C_EDIT}, {"edit", C_EDIT}, {"editing", C_EDIT}, {"tighten", C_EDIT},
    {"reescrib*", C_EDIT}, {"reescrev*", C_EDIT}, {"reformul*", C_EDIT}, {"umformulier*", C_EDIT},
    {"umschreib*", C_EDIT}, {"uberarbeit*", C_EDIT}, {"riscriv*", C_EDIT}, {"riformul*", C_EDIT},
    {"corregg*", C_EDIT}, {"grammar", C_EDIT}, {"grammat*", C_EDIT}, {"gramatic*", C_EDIT}, {"spelling", C_EDIT},
    {"typos", C_EDIT}, {"tone", C_EDIT}, {"tono", C_EDIT}, {"wording", C_EDIT}, {"politer", C_EDIT},
    {"polite", C_EDIT}, {"professional", C_EDIT}, {"formal", C_EDIT}, {"friendlier", C_EDIT},
    {"書き直", C_EDIT}, {"言い換", C_EDIT}, {"推敲", C_EDIT}, {"校正", C_EDIT}, {"添削", C_EDIT},
    {"改写", C_EDIT}, {"润色", C_EDIT}, {"潤色", C_EDIT}, {"校对", C_EDIT}, {"丁寧", C_EDIT},
    /* ---- explain / research */
    {"explain*", C_EXPLAIN}, {"explic*", C_EXPLAIN}, {"expliqu*", C_EXPLAIN}, {"erklar*", C_EXPLAIN},
    {"erlauter*", C_EXPLAIN}, {"spieg*", C_EXPLAIN}, {"describ*", C_EXPLAIN}, {"decri*", C_EXPLAIN}, {"beschreib*", C_EXPLAIN}, {"compar*", C_EXPLAIN}, {"vergleich*", C_EXPLAIN},
    {"confront*", C_EXPLAIN}, {"difference*", C_EXPLAIN}, {"diferencia*", C_EXPLAIN},
    {"unterschied*", C_EXPLAIN}, {"differenz*", C_EXPLAIN}, {"diferenc*", C_EXPLAIN}, {"overview", C_EXPLAIN},
    {"uberblick", C_EXPLAIN}, {"説明", C_EXPLAIN}, {"解释", C_EXPLAIN}, {"解釋", C_EXPLAIN}, {"教えて", C_EXPLAIN},
    {"とは", C_EXPLAIN}, {"区别", C_EXPLAIN}, {"違い", C_EXPLAIN}, {"比较", C_EXPLAIN}, {"설명", C_EXPLAIN},
    {"차이", C_EXPLAIN}, {"объясн*", C_EXPLAIN},
    {"history", C_RESEARCH}, {"historia", C_RESEARCH}, {"historical*", C_RESEARCH}, {"historic*", C_RESEARCH},
    {"evidence", C_RESEARCH}, {"evidencia*", C_RESEARCH}, {"evidenz", C_RESEARCH}, {"literature", C_RESEARCH},
    {"literatura", C_RESEARCH}, {"studies", C_RESEARCH}, {"studien", C_RESEARCH}, {"estudios", C_RESEARCH},
    {"research*", C_RESEARCH}, {"investigac*", C_RESEARCH}, {"forschung*", C_RESEARCH},
    {"recherche*", C_RESEARCH}, {"ricerca", C_RESEARCH}, {"pesquisa*", C_RESEARCH}, {"theories", C_RESEARCH},
    {"theory", C_RESEARCH}, {"teoria*", C_RESEARCH}, {"theorie*", C_RESEARCH}, {"causes", C_RESEARCH},
    {"impact*", C_RESEARCH}, {"effects", C_RESEARCH}, {"consequenc*", C_RESEARCH},
    {"consecuencia*", C_RESEARCH}, {"auswirkung*", C_RESEARCH}, {"historian*", C_RESEARCH},
    {"scientist*", C_RESEARCH}, {"scientific*", C_RESEARCH}, {"cientific*", C_RESEARCH},
    {"wissenschaft*", C_RESEARCH}, {"scientifique*", C_RESEARCH}, {"capital", C_RESEARCH},
    {"century", C_RESEARCH}, {"empire", C_RESEARCH}, {"invented", C_RESEARCH},
    {"歴史", C_RESEARCH}, {"历史", C_RESEARCH}, {"研究", C_RESEARCH}, {"証拠", C_RESEARCH},
    {"证据", C_RESEARCH}, {"文献", C_RESEARCH}, {"影响", C_RESEARCH}, {"影響", C_RESEARCH}, {"원인", C_RESEARCH},
    {"역사", C_RESEARCH},
    /* ---- question words, politeness */
    {"quel", C_QWORD}, {"quelle", C_QWORD}, {"quels", C_QWORD}, {"quelles", C_QWORD}, {"quanto", C_QWORD}, {"quanta", C_QWORD}, {"quantos", C_QWORD}, {"quantas", C_QWORD}, {"what", C_QWORD}, {"why", C_QWORD}, {"how", C_QWORD}, {"who", C_QWORD}, {"when", C_QWORD},
    {"where", C_QWORD}, {"which", C_QWORD}, {"whom", C_QWORD}, {"whose", C_QWORD}, {"cual*", C_QWORD}, {"quien*", C_QWORD}, {"cuando", C_QWORD}, {"donde", C_QWORD},
    {"cuant*", C_QWORD}, {"warum", C_QWORD}, {"wie", C_QWORD}, {"wer", C_QWORD},
    {"wann", C_QWORD}, {"wo", C_QWORD}, {"welche*", C_QWORD}, {"wieso", C_QWORD}, {"weshalb", C_QWORD},
    {"quoi", C_QWORD}, {"pourquoi", C_QWORD}, {"comment", C_QWORD}, {"qui", C_QWORD}, {"quand", C_QWORD},
    {"quel*", C_QWORD}, {"combien", C_QWORD}, {"quem", C_QWORD}, {"quando", C_QWORD}, {"onde", C_QWORD},
    {"qual", C_QWORD}, {"cosa", C_QWORD}, {"perche", C_QWORD}, {"chi", C_QWORD},
    {"dove", C_QWORD}, {"quale", C_QWORD}, {"何", C_QWORD}, {"なぜ", C_QWORD}, {"どう", C_QWORD},
    {"どの", C_QWORD}, {"いつ", C_QWORD}, {"どこ", C_QWORD}, {"誰", C_QWORD}, {"什么", C_QWORD},
    {"为什么", C_QWORD}, {"怎么", C_QWORD}, {"哪", C_QWORD}, {"谁", C_QWORD}, {"多少", C_QWORD},
    {"무엇", C_QWORD}, {"왜", C_QWORD}, {"어떻게", C_QWORD}, {"언제", C_QWORD}, {"어디", C_QWORD},
    {"please", C_POLITE}, {"pls", C_POLITE}, {"plz", C_POLITE}, {"kindly", C_POLITE}, {"could", C_POLITE},
    {"would", C_POLITE}, {"can", C_POLITE}, {"favor", C_POLITE}, {"bitte", C_POLITE}, {"svp", C_POLITE},
    {"favore", C_POLITE}, {"puedes", C_POLITE}, {"podrias", C_POLITE}, {"kannst", C_POLITE},
    {"konntest", C_POLITE}, {"pourrais", C_POLITE}, {"peux", C_POLITE}, {"pode", C_POLITE},
    {"poderia", C_POLITE}, {"puoi", C_POLITE}, {"potresti", C_POLITE}, {"ください", C_POLITE},
    {"下さい", C_POLITE}, {"お願い", C_POLITE}, {"请", C_POLITE}, {"請", C_POLITE}, {"帮我", C_POLITE},
    {"幫我", C_POLITE}, {"麻烦", C_POLITE}, {"주세요", C_POLITE}, {"해줘", C_POLITE},
    /* ---- social */
    {"hi", C_GREET}, {"hello", C_GREET}, {"hey", C_GREET}, {"heya", C_GREET}, {"hiya", C_GREET},
    {"heyy*", C_GREET}, {"morning", C_GREET}, {"evening", C_GREET}, {"thanks", C_GREET},
    {"thank", C_GREET}, {"thx", C_GREET}, {"cheers", C_GREET}, {"bye", C_GREET}, {"goodbye", C_GREET},
    {"hola", C_GREET}, {"buenas", C_GREET}, {"buenos", C_GREET}, {"gracias", C_GREET}, {"hallo", C_GREET},
    {"moin", C_GREET}, {"servus", C_GREET}, {"danke", C_GREET}, {"tschuss", C_GREET}, {"bonjour", C_GREET},
    {"salut", C_GREET}, {"coucou", C_GREET}, {"merci", C_GREET}, {"bonsoir", C_GREET}, {"ola", C_GREET},
    {"oi", C_GREET}, {"obrigad*", C_GREET}, {"tchau", C_GREET}, {"ciao", C_GREET}, {"buongiorno", C_GREET},
    {"buonasera", C_GREET}, {"grazie", C_GREET}, {"lol", C_GREET}, {"haha*", C_GREET}, {"lmao", C_GREET},
    {"jaja*", C_GREET}, {"jeje*", C_GREET}, {"mdr", C_GREET}, {"kkk*", C_GREET}, {"omg", C_GREET},
    {"こんに", C_GREET}, {"おはよ", C_GREET}, {"こんば", C_GREET}, {"ありが", C_GREET}, {"よろし", C_GREET},
    {"你好", C_GREET}, {"您好", C_GREET}, {"谢谢", C_GREET}, {"謝謝", C_GREET}, {"早上", C_GREET},
    {"晚安", C_GREET}, {"嗨", C_GREET}, {"哈哈", C_GREET}, {"안녕", C_GREET}, {"감사", C_GREET},
    {"привет", C_GREET}, {"спасибо", C_GREET}, {"здравствуй*", C_GREET},
    {"sad", C_EMO}, {"sadness", C_EMO}, {"lonely", C_EMO}, {"loneliness", C_EMO}, {"anxious", C_EMO},
    {"anxiety", C_EMO}, {"stressed", C_EMO}, {"stress", C_EMO}, {"depress*", C_EMO}, {"overwhelm*", C_EMO},
    {"scared", C_EMO}, {"afraid", C_EMO}, {"worried", C_EMO}, {"nervous", C_EMO}, {"excited", C_EMO},
    {"happy", C_EMO}, {"upset", C_EMO}, {"angry", C_EMO}, {"frustrat*", C_EMO}, {"grief", C_EMO},
    {"griev*", C_EMO}, {"died", C_EMO}, {"cry*", C_EMO}, {"tears", C_EMO}, {"heartbroken", C_EMO},
    {"breakup", C_EMO}, {"divorce*", C_EMO}, {"exhausted", C_EMO}, {"burnout", C_EMO}, {"feel", C_EMO},
    {"feeling*", C_EMO}, {"felt", C_EMO}, {"miss", C_EMO}, {"guilt*", C_EMO}, {"ashamed", C_EMO},
    {"proud", C_EMO}, {"triste*", C_EMO}, {"ansiedad", C_EMO}, {"ansios*", C_EMO}, {"estres*", C_EMO},
    {"nervios*", C_EMO}, {"miedo", C_EMO}, {"feliz", C_EMO}, {"emocionad*", C_EMO}, {"traurig*", C_EMO},
    {"einsam*", C_EMO}, {"angst*", C_EMO}, {"gestresst", C_EMO}, {"aufgeregt", C_EMO}, {"nervos*", C_EMO},
    {"glucklich", C_EMO}, {"anxi*", C_EMO}, {"peur", C_EMO}, {"heureux*", C_EMO}, {"saudade*", C_EMO},
    {"tristeza", C_EMO}, {"sozinh*", C_EMO}, {"ansied*", C_EMO}, {"solitudine", C_EMO}, {"ansia", C_EMO},
    {"寂し", C_EMO}, {"悲し", C_EMO}, {"不安", C_EMO}, {"つら", C_EMO}, {"辛い", C_EMO}, {"疲れ", C_EMO},
    {"落ち込", C_EMO}, {"嬉し", C_EMO}, {"难过", C_EMO}, {"难受", C_EMO}, {"孤独", C_EMO}, {"焦虑", C_EMO},
    {"压力", C_EMO}, {"伤心", C_EMO}, {"开心", C_EMO}, {"외로", C_EMO}, {"슬퍼", C_EMO}, {"우울", C_EMO},
    {"talk", C_CONVO}, {"chat", C_CONVO}, {"chatting", C_CONVO}, {"conversation*", C_CONVO}, {"listen", C_CONVO},
    {"vent", C_CONVO}, {"hablar", C_CONVO}, {"hablamos", C_CONVO}, {"charlar", C_CONVO},
    {"platicar", C_CONVO}, {"reden", C_CONVO}, {"quatschen", C_CONVO}, {"parler", C_CONVO},
    {"discuter", C_CONVO}, {"conversar", C_CONVO}, {"papo", C_CONVO}, {"parlare", C_CONVO},
    {"chiacchier*", C_CONVO}, {"roleplay*", C_CONVO}, {"role", C_CONVO}, {"pretend", C_CONVO},
    {"character", C_CONVO}, {"rehears*", C_CONVO}, {"practice", C_CONVO}, {"practise", C_CONVO},
    {"practicing", C_CONVO}, {"practising", C_CONVO}, {"practicar", C_CONVO}, {"praticar", C_CONVO},
    {"pratiquer", C_CONVO}, {"uben", C_CONVO}, {"ensayar", C_CONVO}, {"rollenspiel*", C_CONVO},
    {"ruolo", C_CONVO}, {"rol", C_CONVO}, {"papel", C_CONVO}, {"simulat*", C_CONVO}, {"話し", C_CONVO},
    {"聊", C_CONVO}, {"聊天", C_CONVO}, {"ロール", C_CONVO}, {"扮演", C_CONVO}, {"角色", C_CONVO},
    {"얘기", C_CONVO}, {"이야기", C_CONVO}, {"역할", C_CONVO},
    /* ---- difficulty cues */
    {"rigorous*", C_HARD}, {"rigour", C_HARD}, {"rigor", C_HARD}, {"olympiad*", C_HARD}, {"production", C_HARD},
    {"scalab*", C_HARD}, {"distributed", C_HARD}, {"concurren*", C_HARD}, {"comprehensive", C_HARD},
    {"exhaustive", C_HARD}, {"depth", C_HARD}, {"thorough*", C_HARD}, {"nuanced", C_HARD},
    {"publication", C_HARD}, {"publishable", C_HARD}, {"literary", C_HARD}, {"legal", C_HARD},
    {"clinical", C_HARD}, {"medical", C_HARD}, {"safety", C_HARD}, {"certified", C_HARD}, {"peer", C_HARD},
    {"systematic", C_HARD}, {"architecture", C_HARD}, {"benchmark*", C_HARD}, {"complexity", C_HARD},
    {"asymptotic*", C_HARD}, {"invariant*", C_HARD}, {"linearizab*", C_HARD}, {"riguros*", C_HARD},
    {"exhaustiv*", C_HARD}, {"detallad*", C_HARD}, {"ausfuhrlich*", C_HARD}, {"grundlich*", C_HARD},
    {"detaill*", C_HARD}, {"approfond*", C_HARD}, {"dettagliat*", C_HARD}, {"detalhad*", C_HARD},
    {"fault", C_HARD}, {"consensus", C_HARD}, {"multi", C_HARD}, {"tradeoff*", C_HARD}, {"trade-off*", C_HARD},
    {"interlocking", C_HARD}, {"synthes*", C_HARD}, {"jurisprud*", C_HARD}, {"regulat*", C_HARD},
    {"厳密", C_HARD}, {"詳しく", C_HARD}, {"詳細", C_HARD}, {"严格", C_HARD}, {"详细", C_HARD},
    {"深入", C_HARD}, {"全面", C_HARD}, {"상세", C_HARD},
    {"quick", C_EASY}, {"quickly", C_EASY}, {"simple", C_EASY}, {"simply", C_EASY}, {"short", C_EASY},
    {"briefly", C_EASY}, {"just", C_EASY}, {"liner", C_EASY}, {"oneliner", C_EASY}, {"single", C_EASY},
    {"basic", C_EASY}, {"tiny", C_EASY}, {"little", C_EASY}, {"small", C_EASY}, {"rapid*", C_EASY},
    {"kurz*", C_EASY}, {"schnell*", C_EASY}, {"einfach*", C_EASY}, {"sencill*", C_EASY}, {"breve*", C_EASY},
    {"corto", C_EASY}, {"piccol*", C_EASY}, {"semplice", C_EASY}, {"facil*", C_EASY}, {"简单", C_EASY}, {"简短", C_EASY}, {"快速", C_EASY}, {"一句", C_EASY}, {"一行", C_EASY}, {"一言", C_EASY},
    {"簡単", C_EASY}, {"ちょっと", C_EASY}, {"すぐ", C_EASY}, {"짧게", C_EASY}, {"간단", C_EASY},
    {"wort", C_CONSTR}, {"worter", C_CONSTR}, {"wortern", C_CONSTR}, {"must", C_CONSTR}, {"exactly", C_CONSTR}, {"least", C_CONSTR}, {"without", C_CONSTR},
    {"maximum", C_CONSTR}, {"minimum", C_CONSTR}, {"max", C_CONSTR}, {"words", C_CONSTR}, {"palabras", C_CONSTR},
    {"mots", C_CONSTR}, {"palavras", C_CONSTR}, {"characters", C_CONSTR},
    {"caracteres", C_CONSTR}, {"zeichen", C_CONSTR}, {"ensure", C_CONSTR}, {"avoid", C_CONSTR},
    {"never", C_CONSTR}, {"keep", C_CONSTR}, {"exact*", C_CONSTR}, {"strict*", C_CONSTR},
    {"requirement*", C_CONSTR}, {"constraint*", C_CONSTR}, {"muss*", C_CONSTR}, {"ohne", C_CONSTR},
    {"sans", C_CONSTR}, {"senza", C_CONSTR}, {"requisito*", C_CONSTR}, {"anforderung*", C_CONSTR},
    {"以内", C_CONSTR}, {"超过", C_CONSTR}, {"必须", C_CONSTR}, {"必ず", C_CONSTR}, {"条件", C_CONSTR},
    {"要求", C_CONSTR},
    /* ---- material references and kinds */
    {"below", C_REF}, {"following", C_REF}, {"above", C_REF}, {"attached", C_REF}, {"pasted", C_REF},
    {"here", C_REF}, {"siguiente*", C_REF}, {"abajo", C_REF}, {"adjunt*", C_REF}, {"folgende*", C_REF},
    {"unten", C_REF}, {"obige*", C_REF}, {"dessous", C_REF}, {"suivant*", C_REF}, {"seguinte*", C_REF},
    {"abaixo", C_REF}, {"seguente*", C_REF}, {"sotto", C_REF}, {"allegat*", C_REF}, {"以下", C_REF},
    {"下記", C_REF}, {"次の", C_REF}, {"下面", C_REF}, {"如下", C_REF}, {"아래", C_REF}, {"다음", C_REF},
    {"log", C_LOGN}, {"logs", C_LOGN}, {"logfile*", C_LOGN}, {"traceback*", C_LOGN}, {"stacktrace*", C_LOGN},
    {"trace*", C_LOGN}, {"exception*", C_LOGN}, {"error*", C_LOGN}, {"errores", C_LOGN}, {"fehler*", C_LOGN},
    {"erreur*", C_LOGN}, {"errore", C_LOGN}, {"erro", C_LOGN}, {"panic*", C_LOGN}, {"warning*", C_LOGN},
    {"stack", C_LOGN}, {"日志", C_LOGN}, {"ログ", C_LOGN}, {"エラー", C_LOGN}, {"报错", C_LOGN}, {"错误", C_LOGN},
    {"로그", C_LOGN}, {"오류", C_LOGN},
    {"article*", C_DOCN}, {"articulo*", C_DOCN}, {"artikel*", C_DOCN}, {"articolo*", C_DOCN},
    {"artigo*", C_DOCN}, {"contract*", C_DOCN}, {"contrato*", C_DOCN}, {"vertrag*", C_DOCN},
    {"contrat*", C_DOCN}, {"contratto*", C_DOCN}, {"agreement*", C_DOCN}, {"nda", C_DOCN}, {"clause*", C_DOCN},
    {"clausula*", C_DOCN}, {"klausel*", C_DOCN}, {"report*", C_DOCN}, {"informe*", C_DOCN},
    {"bericht*", C_DOCN}, {"rapport*", C_DOCN}, {"relatorio*", C_DOCN}, {"transcript*", C_DOCN},
    {"document*", C_DOCN}, {"dokument*", C_DOCN}, {"documento*", C_DOCN}, {"thread*", C_DOCN},
    {"abstract*", C_DOCN}, {"readme", C_DOCN}, {"changelog*", C_DOCN}, {"postmortem*", C_DOCN},
    {"mortem", C_DOCN}, {"incident*", C_DOCN}, {"ticket*", C_DOCN}, {"memo*", C_DOCN}, {"notes", C_DOCN},
    {"meeting*", C_DOCN}, {"review*", C_DOCN}, {"text", C_DOCN}, {"texto*", C_DOCN},
    {"texte", C_DOCN}, {"testo", C_DOCN}, {"passage*", C_DOCN}, {"paragraph*", C_DOCN}, {"parrafo*", C_DOCN},
    {"absatz*", C_DOCN}, {"paragraphe*", C_DOCN}, {"paragrafo*", C_DOCN}, {"chapter*", C_DOCN},
    {"kapitel*", C_DOCN}, {"capitulo*", C_DOCN}, {"chapitre*", C_DOCN}, {"capitolo*", C_DOCN},
    {"記事", C_DOCN}, {"文章", C_DOCN}, {"报告", C_DOCN}, {"報告", C_DOCN}, {"文档", C_DOCN}, {"文書", C_DOCN},
    {"契約", C_DOCN}, {"合同", C_DOCN}, {"会议", C_DOCN}, {"会議", C_DOCN}, {"議事録", C_DOCN},
    {"论文", C_DOCN}, {"論文", C_DOCN}, {"기사", C_DOCN}, {"보고서", C_DOCN}, {"계약", C_DOCN},
};
/* clang-format on */

#endif
