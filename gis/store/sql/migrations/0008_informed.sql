-- 精准派单: a general case goes to the 专职网格员 serving its micro-grid and the 微网格长 (a
-- volunteer: 楼栋长, 物业, a resident representative) is informed. Who was informed is kept
-- with the case, as dispatch chose them (gis.core.dispatch), for imports and the app alike.
ALTER TABLE incident ADD COLUMN informed text;
