package render

// Languages are the label languages of the multilingual certificates
// (住民票の写し, 住民票記載事項証明書, 印鑑登録証明書; J-LIS since 2014), as
// Document.Language names them. "" is Japanese.
var Languages = []string{"ja", "en", "zh-Hans", "zh-Hant", "ko", "es", "pt"}

// labels is every fixed word a form prints, keyed by its Japanese text.
// A label of a multilingual form has every language of Languages (a test
// checks it); the others have only "ja". The certificate itself stays in
// Japanese: a translation is printed small under the Japanese label, for a
// resident who must understand what the paper says, while the office that
// receives it reads the Japanese.
var labels = map[string]map[string]string{
	// Titles (the printed title is the municipality's, Document.Title; the
	// translation follows the type).
	"住民票の写し": {
		"ja": "住民票の写し", "en": "Copy of Certificate of Residence", "zh-Hans": "住民票副本",
		"zh-Hant": "住民票副本", "ko": "주민표 사본", "es": "Copia del certificado de residencia",
		"pt": "Cópia do atestado de residência",
	},
	"住民票記載事項証明書": {
		"ja": "住民票記載事項証明書", "en": "Certificate of Entries in the Residence Record",
		"zh-Hans": "住民票记载事项证明书", "zh-Hant": "住民票記載事項證明書", "ko": "주민표 기재사항 증명서",
		"es": "Certificado de datos del registro de residencia", "pt": "Certidão de dados do registro de residência",
	},
	"印鑑登録証明書": {
		"ja": "印鑑登録証明書", "en": "Certificate of Seal Registration", "zh-Hans": "印章登记证明书",
		"zh-Hant": "印鑑登記證明書", "ko": "인감등록증명서", "es": "Certificado de registro del sello (inkan)",
		"pt": "Certidão de registro do carimbo (inkan)",
	},
	"注記": {
		"ja":      "項目名の翻訳は参考です。",
		"en":      "This certificate is in Japanese. The translated labels are for reference only.",
		"zh-Hans": "本证明书以日文为准，翻译的项目名称仅供参考。",
		"zh-Hant": "本證明書以日文為準，翻譯的項目名稱僅供參考。",
		"ko":      "이 증명서는 일본어가 정본이며, 번역된 항목명은 참고용입니다.",
		"es":      "Este certificado está en japonés. Las etiquetas traducidas son solo de referencia.",
		"pt":      "Este certificado está em japonês. Os rótulos traduzidos são apenas para referência.",
	},
	"発行番号": {
		"ja": "発行番号", "en": "Issue No.", "zh-Hans": "签发编号", "zh-Hant": "發行編號", "ko": "발행번호",
		"es": "N.º de emisión", "pt": "N.º de emissão",
	},
	"以下余白": {
		"ja": "以下余白", "en": "(Nothing follows)", "zh-Hans": "以下空白", "zh-Hant": "以下空白",
		"ko": "이하 여백", "es": "(Fin del contenido)", "pt": "(Fim do conteúdo)",
	},
	"記載なし": {
		"ja": "記載なし", "en": "(not recorded)", "zh-Hans": "（无记载）", "zh-Hant": "（無記載）",
		"ko": "(기재 없음)", "es": "(sin registro)", "pt": "(sem registro)",
	},
	"住所": {
		"ja": "住所", "en": "Address", "zh-Hans": "住址", "zh-Hant": "住址", "ko": "주소",
		"es": "Domicilio", "pt": "Endereço",
	},
	"世帯主": {
		"ja": "世帯主", "en": "Head of household", "zh-Hans": "户主", "zh-Hant": "戶長", "ko": "세대주",
		"es": "Jefe del hogar", "pt": "Chefe do domicílio",
	},
	"氏名": {
		"ja": "氏名", "en": "Name", "zh-Hans": "姓名", "zh-Hant": "姓名", "ko": "성명",
		"es": "Nombre", "pt": "Nome",
	},
	"性別": {
		"ja": "性別", "en": "Sex", "zh-Hans": "性别", "zh-Hant": "性別", "ko": "성별",
		"es": "Sexo", "pt": "Sexo",
	},
	"生年月日": {
		"ja": "生年月日", "en": "Date of birth", "zh-Hans": "出生日期", "zh-Hant": "出生日期", "ko": "생년월일",
		"es": "Fecha de nacimiento", "pt": "Data de nascimento",
	},
	"続柄": {
		"ja": "続柄", "en": "Relationship to head of household", "zh-Hans": "与户主的关系",
		"zh-Hant": "與戶長的關係", "ko": "세대주와의 관계", "es": "Parentesco con el jefe del hogar",
		"pt": "Parentesco com o chefe do domicílio",
	},
	"旧氏": {
		"ja": "旧氏", "en": "Former surname", "zh-Hans": "旧姓", "zh-Hant": "舊姓", "ko": "구 성씨",
		"es": "Apellido anterior", "pt": "Sobrenome anterior",
	},
	"通称": {
		"ja": "通称", "en": "Registered alias", "zh-Hans": "通称", "zh-Hant": "通稱", "ko": "통칭",
		"es": "Nombre de uso registrado", "pt": "Nome de uso registrado",
	},
	"住民となった年月日": {
		"ja": "住民となった年月日", "en": "Date of becoming a resident", "zh-Hans": "成为居民的日期",
		"zh-Hant": "成為居民的日期", "ko": "주민이 된 날", "es": "Fecha de alta como residente",
		"pt": "Data em que se tornou residente",
	},
	"住所を定めた年月日": {
		"ja": "住所を定めた年月日", "en": "Date of moving to this address", "zh-Hans": "定居本住址的日期",
		"zh-Hant": "定居本住址的日期", "ko": "이 주소를 정한 날", "es": "Fecha de fijación del domicilio",
		"pt": "Data de fixação do endereço",
	},
	"前住所": {
		"ja": "前住所", "en": "Previous address", "zh-Hans": "前住址", "zh-Hant": "前住址", "ko": "전 주소",
		"es": "Domicilio anterior", "pt": "Endereço anterior",
	},
	"本籍": {
		"ja": "本籍", "en": "Registered domicile (honseki)", "zh-Hans": "本籍", "zh-Hant": "本籍",
		"ko": "본적", "es": "Domicilio legal (honseki)", "pt": "Domicílio legal (honseki)",
	},
	"筆頭者": {
		"ja": "筆頭者", "en": "Head of the family register", "zh-Hans": "户籍首位者", "zh-Hant": "戶籍首位者",
		"ko": "호적 필두자", "es": "Titular del registro familiar", "pt": "Titular do registro familiar",
	},
	"個人番号": {
		"ja": "個人番号", "en": "Individual Number (My Number)", "zh-Hans": "个人编号", "zh-Hant": "個人編號",
		"ko": "개인번호", "es": "Número individual (My Number)", "pt": "Número individual (My Number)",
	},
	"国籍・地域": {
		"ja": "国籍・地域", "en": "Nationality / region", "zh-Hans": "国籍・地区", "zh-Hant": "國籍・地區",
		"ko": "국적/지역", "es": "Nacionalidad / región", "pt": "Nacionalidade / região",
	},
	"在留資格": {
		"ja": "在留資格", "en": "Status of residence", "zh-Hans": "在留资格", "zh-Hant": "在留資格",
		"ko": "체류자격", "es": "Estatus de residencia", "pt": "Status de residência",
	},
	"在留期間": {
		"ja": "在留期間", "en": "Period of stay", "zh-Hans": "在留期间", "zh-Hant": "在留期間",
		"ko": "체류기간", "es": "Período de estancia", "pt": "Período de permanência",
	},
	"在留期間の満了の日": {
		"ja": "在留期間の満了の日", "en": "Expiry of the period of stay", "zh-Hans": "在留期间届满日",
		"zh-Hant": "在留期間屆滿日", "ko": "체류기간 만료일", "es": "Vencimiento de la estancia",
		"pt": "Vencimento da permanência",
	},
	"在留カード等の番号": {
		"ja": "在留カード等の番号", "en": "Residence card number", "zh-Hans": "在留卡等号码",
		"zh-Hant": "在留卡等號碼", "ko": "재류카드 등의 번호", "es": "Número de la tarjeta de residencia",
		"pt": "Número do cartão de residência",
	},
	"印影": {
		"ja": "印影", "en": "Registered seal impression", "zh-Hans": "印鉴印影", "zh-Hant": "印鑑印影",
		"ko": "인영", "es": "Impresión del sello registrado", "pt": "Impressão do carimbo registrado",
	},
	"登録番号": {
		"ja": "登録番号", "en": "Registration No.", "zh-Hans": "登记编号", "zh-Hant": "登記編號",
		"ko": "등록번호", "es": "N.º de registro", "pt": "N.º de registro",
	},

	// Japanese only: 戸籍, 附票 and tax certificates are not multilingual.
	"戸籍全部事項証明書":   {"ja": "戸籍全部事項証明書"},
	"戸籍個人事項証明書":   {"ja": "戸籍個人事項証明書"},
	"戸籍の附票の写し":    {"ja": "戸籍の附票の写し"},
	"所得証明書":       {"ja": "所得証明書"},
	"課税証明書":       {"ja": "課税証明書"},
	"納税証明書":       {"ja": "納税証明書"},
	"戸籍事項":        {"ja": "戸籍事項"},
	"戸籍に記録されている者": {"ja": "戸籍に記録されている者"},
	"身分事項":        {"ja": "身分事項"},
	"除籍":          {"ja": "除　籍"},
	"名":           {"ja": "名"},
	"氏":           {"ja": "氏"},
	"父":           {"ja": "父"},
	"母":           {"ja": "母"},
	"年度":          {"ja": "年度"},
	"所得の年":        {"ja": "所得の年"},
	"所得":          {"ja": "所得"},
	"合計所得金額":      {"ja": "合計所得金額"},
	"所得控除":        {"ja": "所得控除"},
	"課税標準額":       {"ja": "課税標準額"},
	"税額合計":        {"ja": "税額合計"},
	"納付済額":        {"ja": "納付済額"},
	"未納額":         {"ja": "未納額"},
	"電子契印":        {"ja": "電子契印"},
}
